"""Exceptions raised by octavo. Every C++ Status code maps to one class here."""
import operator
import os
import re
from typing import TypeVar

T = TypeVar("T")


class OctavoError(Exception):
    """Base class of every octavo error."""


class InvalidArgumentError(OctavoError, ValueError):
    """A bad argument or node name."""


class NotFoundError(OctavoError, KeyError):
    """A missing bundle, node, column or commit. Also a KeyError (so a LookupError): code
    written for DataFolio catches KeyError for a missing item."""

    def __str__(self) -> str:  # KeyError's str() would show the message quoted
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class MissingFileError(NotFoundError, FileNotFoundError):
    """A file or directory given by path does not exist: also the FileNotFoundError that code written
    for pandas, polars or pyarrow readers catches."""


class NoSuchNodeError(NotFoundError, AttributeError):
    """PyTables' NoSuchNodeError (octavo.tables): a missing node; like PyTables' it is also an
    AttributeError and a LookupError."""


class AlreadyExistsError(OctavoError, ValueError):
    """The node (or directory) already exists."""


class SchemaError(OctavoError, TypeError):
    """Wrong node kind, or data whose schema does not match the table."""


class OctavoIOError(OctavoError, OSError):
    """The operating system refused a read or write (disk full, permissions...)."""


class CorruptionError(OctavoError):
    """A file of the bundle does not hold what the manifest says."""


class LockedError(OctavoError):
    """Another writer holds the bundle's lock."""


class ConflictError(OctavoError):
    """Another writer changed the same node since this handle's change was built (both rewrote,
    removed or created it): nothing was committed; the handle now sees the newer commit, so
    redoing the change builds on it."""


class OctavoNotImplementedError(OctavoError, NotImplementedError):
    pass


class OctavoIndexError(OctavoError, IndexError):
    pass


class UnsupportedVersionError(OctavoError):
    """The bundle was written by a newer octavo."""


class ReadOnlyError(OctavoError, PermissionError):
    """A write was attempted on a bundle opened read-only."""


class ClosedBundleError(OctavoError, ValueError):
    """The bundle (and so every node of it) was closed; like PyTables' ClosedFileError, a ValueError."""


class QueryError(OctavoError, ValueError):
    """An SQL query (bundle.sql / query_table) that DuckDB rejected or failed to run."""


def check_text(value: T, what: str) -> T:
    """Names, keys and text cross into the engine as UTF-8: a str that cannot be encoded
    (a lone surrogate such as '\\udcff', from os.fsdecode of non-UTF-8 bytes) is refused here,
    naming the value and why, instead of failing in the binding's string conversion."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgumentError(
                f"{what} {value!r} is not valid Unicode: {e.reason} at index {e.start}; "
                "octavo stores names and text as UTF-8") from e
    return value


def check_int(value: object, what: str) -> int:
    """A row number or count: an int or anything with __index__ (numpy integers), never a
    float or string that int() would silently round or parse."""
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidArgumentError(f"{what} must be an integer, got {value!r}") from None


def check_fspath(path: str | bytes | os.PathLike, what: str) -> str:
    """A local file path as the engine takes it (UTF-8): os.fsdecode of a non-UTF-8 name holds
    lone surrogates, which are refused here by name instead of as a binding TypeError."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        try:
            return path.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidArgumentError(f"{what} {path!r} is not valid UTF-8 (byte {e.start}); "
                                       "octavo takes file paths as UTF-8: rename the file") from e
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"{what} {path!r} is not valid UTF-8 ({e.reason} at index {e.start}); "
                                   "octavo takes file paths as UTF-8: rename the file") from e
    return path


_BY_CODE = {
    "Invalid": InvalidArgumentError,
    "NotFound": NotFoundError,
    "AlreadyExists": AlreadyExistsError,
    "TypeError": SchemaError,
    "IOError": OctavoIOError,
    "Corruption": CorruptionError,
    "Locked": LockedError,
    "NotImplemented": OctavoNotImplementedError,
    "IndexError": OctavoIndexError,
    "UnsupportedVersion": UnsupportedVersionError,
    "ReadOnly": ReadOnlyError,
    "Conflict": ConflictError,
}


def error_class(code_name: str) -> type:
    """Used by the C++ extension to pick the exception class for a Status code."""
    return _BY_CODE.get(code_name, OctavoError)


_ARROW_PREFIXES = ("Invalid: ", "IOError: ", "Type error: ", "Key error: ", "Index error: ", "NotImplemented: ")
_DETAIL = re.compile(r"\. Detail: octavo:(\w+)$", re.S)


def translate_stream_error(exc: Exception) -> Exception:
    """An octavo error that crossed an Arrow C stream arrives as a pyarrow exception whose
    message is "<arrow code>: <message>. Detail: octavo:<code>" (the C++ side attaches the code
    as an Arrow StatusDetail); turn it back into the octavo class."""
    msg = str(exc)
    m = _DETAIL.search(msg)
    if not m:
        return exc
    msg = msg[:m.start()]
    for prefix in _ARROW_PREFIXES:
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
            break
    return _BY_CODE.get(m.group(1), OctavoError)(msg)
