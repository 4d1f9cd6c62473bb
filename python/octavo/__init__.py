"""octavo: a versioned home for tables, n-d arrays and files, on a C++ engine.

    import octavo
    with octavo.open("experiment.octavo", mode="a") as b:
        b.add_table("readout", df)
        df2 = b.get_table("readout", where=None)
"""
from ._octavo import FORMAT_VERSION, __version__
from .array import Array
from .bundle import Bundle, open
from .enums import Compression, Compressor, FileMode, ImportAction, MigrationStatus, Mode, ReturnType, Shuffle
from .errors import (
    AlreadyExistsError,
    CorruptionError,
    InvalidArgumentError,
    LockedError,
    NotFoundError,
    OctavoError,
    OctavoIOError,
    QueryError,
    ReadOnlyError,
    SchemaError,
    UnsupportedVersionError,
)
from .files import FileNode
from .group import Group
from .link import SoftLink
from .node import Node
from .share import AttachedTable, SharedTable, attach, share
from .table import Table

__all__ = [
    "open", "Bundle", "Group", "Node", "SoftLink", "Table", "Array", "FileNode", "__version__", "FORMAT_VERSION",
    "OctavoError", "InvalidArgumentError", "NotFoundError", "AlreadyExistsError", "SchemaError",
    "OctavoIOError", "CorruptionError", "LockedError", "ReadOnlyError", "UnsupportedVersionError",
    "QueryError", "share", "attach", "SharedTable", "AttachedTable",
    "Mode", "FileMode", "ReturnType", "Compressor", "Shuffle", "Compression", "MigrationStatus", "ImportAction",
]
