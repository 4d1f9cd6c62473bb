"""Names for the API's closed sets of string values.

Each enum is a ``str`` subclass: a member goes wherever its string is accepted and compares
(and hashes) equal to it, so ``octavo.open(p, octavo.Mode.APPEND)`` and ``octavo.open(p, "a")``
are the same call and results compare with ``r["status"] == "failed"`` as before. Where the
engine owns a set (codecs, Parquet compressions) it validates the value and its error names the
choices; the sets checked in Python (modes, return types) are checked by :func:`name_arg`.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from .errors import InvalidArgumentError


class _Names(str, Enum):  # noqa: UP042 (StrEnum is 3.11+; the package supports Python 3.10)
    def __str__(self) -> str:  # "zstd", not "Compressor.ZSTD": code calls str() on these arguments
        return self.value

    @classmethod
    def choices(cls) -> str:
        return ", ".join(repr(m.value) for m in cls) + f" (octavo.{cls.__name__})"


N = TypeVar("N", bound=_Names)


class Mode(_Names):
    """How :func:`octavo.open` opens a bundle."""

    READ = "r"      # read-only snapshot of the newest commit
    APPEND = "a"    # read/write, created if missing ("r+" is accepted as the same)
    WRITE = "w"     # create, or start over with an empty tree (as a new commit)


class FileMode(_Names):
    """How :meth:`octavo.Bundle.open_file` opens a file node."""

    READ_BINARY = "rb"
    READ_TEXT = "r"
    APPEND_BINARY = "ab"


class ReturnType(_Names):
    """What table reads return."""

    PANDAS = "pandas"
    POLARS = "polars"
    ARROW = "arrow"


class Compressor(_Names):
    """Chunk codecs of n-d arrays (``create_array(compressor=)``); "blosc" is blosc:zstd."""

    ZSTD = "zstd"
    LZ4 = "lz4"
    GZIP = "gzip"
    ZLIB = "zlib"
    NONE = "none"
    BLOSC = "blosc"
    BLOSC_BLOSCLZ = "blosc:blosclz"
    BLOSC_LZ4 = "blosc:lz4"
    BLOSC_LZ4HC = "blosc:lz4hc"
    BLOSC_ZLIB = "blosc:zlib"
    BLOSC_ZSTD = "blosc:zstd"


class Shuffle(_Names):
    """Byte filters of n-d arrays (``create_array(shuffle=)``; True and False work too)."""

    SHUFFLE = "shuffle"
    NOSHUFFLE = "noshuffle"
    BITSHUFFLE = "bitshuffle"


class Compression(_Names):
    """Parquet compressions of tables (``options={"compression": ...}``, HDF5 import and migration)."""

    ZSTD = "zstd"
    LZ4 = "lz4"
    SNAPPY = "snappy"
    GZIP = "gzip"
    BROTLI = "brotli"
    NONE = "none"


class SchemaMode(_Names):
    """How :meth:`octavo.Table.append` treats columns the table does not have."""

    STRICT = "strict"             # refuse them (SchemaError naming the columns)
    ADD_COLUMNS = "add_columns"   # add them as nullable columns, NULL in the earlier rows


class MigrationStatus(_Names):
    """``status`` of each file :func:`octavo.fileio.migrate_h5_to_parquet` reports."""

    CONVERTED = "converted"
    SKIPPED = "skipped"
    PLANNED = "planned"  # dry_run
    FAILED = "failed"


class ImportAction(_Names):
    """``action`` of each object :func:`octavo.fileio.inspect_h5` reports: what import makes of it."""

    GROUP = "group"
    TABLE = "table"
    ARRAY = "array"
    FILE = "file"
    LINK = "link"
    SKIP = "skip"


def name_arg(value: Any, names: type[N], what: str, *, check: bool = False) -> str:
    """A closed-set argument as the engine takes it: the string of a member of ``names``, or a
    string as given (checked against the set here with ``check``; else the engine checks it).
    Anything else, a member of another set included, is an InvalidArgumentError naming the set."""
    if isinstance(value, names):
        return value.value
    if isinstance(value, str) and not isinstance(value, Enum):
        if not check or value in names._value2member_map_:
            return value
    raise InvalidArgumentError(f"{what} must be one of {names.choices()}, got {value!r}")


def name_of(value: str, names: type[N]) -> N | str:
    """A value the engine reported, as a member of ``names`` (the string itself if this octavo
    does not know it, e.g. from a newer engine)."""
    return names._value2member_map_.get(value, value)  # type: ignore[return-value]
