"""octavo: a versioned home for tables, n-d arrays and files, on a C++ engine.

    import octavo
    with octavo.open("experiment.octavo", mode="a") as b:
        b.add_table("readout", df)
        df2 = b.get_table("readout", where=None)
"""
from ._octavo import FORMAT_VERSION, __version__
from .array import Array
from .files import FileNode
from .bundle import Bundle, Group, Node, SoftLink, Table, open
from .share import AttachedTable, SharedTable, attach, share
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

__all__ = [
    "open", "Bundle", "Group", "Node", "SoftLink", "Table", "Array", "FileNode", "__version__", "FORMAT_VERSION",
    "OctavoError", "InvalidArgumentError", "NotFoundError", "AlreadyExistsError", "SchemaError",
    "OctavoIOError", "CorruptionError", "LockedError", "ReadOnlyError", "UnsupportedVersionError",
    "QueryError", "share", "attach", "SharedTable", "AttachedTable",
]
