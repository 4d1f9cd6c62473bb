"""octavo: a versioned home for tables, n-d arrays and files, on a C++ engine.

    import octavo
    with octavo.open("experiment.octavo", mode="a") as b:
        b.add_table("readout", df)
        df2 = b.get_table("readout", where=None)
"""
import operator as _operator

from ._octavo import FORMAT_VERSION, __version__
from ._octavo import available_cpus as _available_cpus
from ._octavo import get_num_threads as _get_num_threads
from ._octavo import set_num_threads as _set_num_threads
from .array import Array
from .bundle import Bundle, open
from .enums import (
    Compression,
    Compressor,
    FileMode,
    ImportAction,
    MigrationStatus,
    Mode,
    ReturnType,
    SchemaMode,
    Shuffle,
)
from .errors import (
    AlreadyExistsError,
    ClosedBundleError,
    ConflictError,
    CorruptionError,
    InvalidArgumentError,
    LockedError,
    MissingFileError,
    NoSuchNodeError,
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


def set_num_threads(n: int) -> None:
    """Size octavo's one thread pool: reads, queries, writes and arrays use up to ``n`` threads.

    The pool is Arrow's CPU pool, so this is also ``pyarrow.set_cpu_count(n)``. ``n`` must be
    from 1 to 1024 (``InvalidArgumentError`` otherwise). Replaces ``OCTAVO_NUM_THREADS``.
    """
    try:
        if isinstance(n, bool):
            raise TypeError
        n = _operator.index(n)  # int, numpy integers
    except TypeError:
        raise InvalidArgumentError(f"the number of threads must be an integer, got {n!r}") from None
    if not -(2**62) < n < 2**62:
        raise InvalidArgumentError(f"the number of threads must be from 1 to 1024, got {n}")
    _set_num_threads(n)


def get_num_threads() -> int:
    """The pool's size: ``set_num_threads``' value, else ``OCTAVO_NUM_THREADS``, else
    ``available_cpus()``. An unusable ``OCTAVO_NUM_THREADS`` raises ``InvalidArgumentError``."""
    return _get_num_threads()


def available_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    return _available_cpus()


__all__ = [
    "set_num_threads", "get_num_threads", "available_cpus",
    "open", "Bundle", "Group", "Node", "SoftLink", "Table", "Array", "FileNode", "__version__", "FORMAT_VERSION",
    "OctavoError", "InvalidArgumentError", "NotFoundError", "MissingFileError", "NoSuchNodeError", "AlreadyExistsError", "ClosedBundleError", "SchemaError",
    "OctavoIOError", "CorruptionError", "LockedError", "ConflictError", "ReadOnlyError", "UnsupportedVersionError",
    "QueryError", "share", "attach", "SharedTable", "AttachedTable",
    "Mode", "FileMode", "ReturnType", "Compressor", "Shuffle", "Compression", "MigrationStatus", "ImportAction", "SchemaMode",
]
