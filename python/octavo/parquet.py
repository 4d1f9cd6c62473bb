"""The Parquet I/O layer (one place to read and write Parquet, polars or pandas underneath).

    from octavo.parquet import read_parquet, read_parquet_lazy, read_parquet_columns, ParquetReader
    df = read_parquet("headers.parquet", columns=["cdp", "offset"], filters=[("cdp", "<", 100)])
    df = read_parquet("exp.octavo:/headers", filters="(cdp < 100) & (offset > 0)")   # octavo pushes it down
    for chunk in ParquetReader(paths, batch_size=100_000, columns=["cdp"]): ...

``path`` is a Parquet file, a list of files (what ``Bundle.get_table_path`` returns), a
directory of parts, or a bundle table address ``"BUNDLE:/table"`` (read by octavo at the
bundle's newest commit: parts, row groups and pages the filter rules out are never read).
``filters`` is an octavo condition string (docs/queries.md; on files too, read by octavo's engine
with row groups pruned by their statistics) or pyarrow-style
tuples: ``[(col, op, value), ...]`` (AND) or a list of such lists (OR of ANDs), with ops
``== = != < <= > >= in not in``.
"""
from __future__ import annotations

import glob
import logging
import operator
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from . import _octavo
from .convert import write_table_atomic
from .enums import ReturnType, name_arg
from .errors import InvalidArgumentError, MissingFileError, check_text, translate_stream_error

logger = logging.getLogger(__name__)

try:
    import polars as pl

    POLARS_AVAILABLE = True
except ImportError:  # pragma: no cover - polars is a dependency of the test setup
    pl = None  # type: ignore[assignment]
    POLARS_AVAILABLE = False

RETURN_TYPES = tuple(t.value for t in ReturnType)
_OPS = {"==": "==", "=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "in": "IN",
        "not in": "NOT IN"}


# --- paths ------------------------------------------------------------------------------------
def _bundle_address(path):
    """(bundle dir, table path) for "BUNDLE:/table" whose BUNDLE is a directory, else None."""
    if not isinstance(path, (str, os.PathLike)):
        return None
    text = os.fspath(path)
    i = text.rfind(":/")
    if i <= 0 or os.path.exists(text):
        return None
    bundle, table = text[:i], text[i + 1:]
    return (bundle, table) if os.path.isdir(bundle) else None


def _files(path) -> list[str] | str:
    """A file or directory as given, a list of files as a list of str."""
    if isinstance(path, (list, tuple)):
        if not path:
            raise InvalidArgumentError("read_parquet: the list of files is empty")
        files = [os.fspath(p) for p in path]
    else:
        files = [os.fspath(path)]
    for f in files:
        # a glob is the reader's to expand; anything else must exist before a reader (and its fallback) tries it
        if not glob.has_magic(f) and not os.path.exists(f):
            raise MissingFileError(f"read_parquet: {f} does not exist")
    return files if isinstance(path, (list, tuple)) else files[0]


def _open_table(address):
    from .bundle import open as open_bundle

    bundle = open_bundle(address[0], "r")
    return bundle, bundle[address[1]]


# --- filters ----------------------------------------------------------------------------------
def _dnf(filters) -> list[list[tuple]]:
    if not filters:
        return []
    if all(isinstance(f, tuple) for f in filters):
        return [list(filters)]
    if all(isinstance(f, list) and all(isinstance(t, tuple) for t in f) for f in filters):
        return [list(f) for f in filters]
    raise InvalidArgumentError(f"filters must be a condition string, a list of (column, op, value) tuples or a "
                               f"list of such lists, got {filters!r}")


def _literal(v, condvars: dict) -> str:
    name = f"octavo_filter_value_{len(condvars)}"
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    condvars[name] = v
    return name


def filters_to_condition(filters) -> tuple[str, dict]:
    """pyarrow-style tuples -> (octavo condition, condvars): values are bound, never spliced in."""
    condvars: dict = {}
    ors = []
    for conj in _dnf(filters):
        ands = []
        for t in conj:
            if len(t) != 3 or not isinstance(t[0], str) or str(t[1]).lower() not in _OPS:
                raise InvalidArgumentError(f"filter {t!r} is not (column, op, value) with op one of {sorted(_OPS)}")
            col, op, value = t[0], _OPS[str(t[1]).lower()], t[2]
            if "`" in col:
                raise InvalidArgumentError(f"filter column name {col!r} contains a backtick")
            ident = col if col.isidentifier() else f"`{col}`"
            if op in ("IN", "NOT IN"):
                items = ", ".join(_literal(v, condvars) for v in value)
                ands.append(f"({ident} {op} ({items}))")
            else:
                ands.append(f"({ident} {op} {_literal(value, condvars)})")
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors), condvars


def _arrow_filter(filters):
    if filters is None:
        return None
    _dnf(filters)  # validates the shape
    return pq.filters_to_expression(filters)


def _engine_scan(src: list[str] | str, condition: str, columns: list[str] | None,
                 batch_size: int = 1 << 16) -> pa.RecordBatchReader:
    """A reader of the rows of plain Parquet files where an octavo condition holds, read by the
    engine (row groups pruned by their statistics; the same semantics as Table.where)."""
    paths = src if isinstance(src, list) else [src]
    stream = _octavo.scan_parquet_files(paths, check_text(condition, "condition"), list(columns or []),
                                        batch_size=batch_size)
    return pa.RecordBatchReader.from_stream(stream)


def _engine_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except pa.ArrowException as e:
        raise translate_stream_error(e) from e


# --- reading ----------------------------------------------------------------------------------
def _kind(use_polars: bool, return_pandas: bool, return_type: str | ReturnType | None) -> str:
    if return_type is not None:
        return name_arg(return_type, ReturnType, "return_type", check=True)
    if return_pandas:
        return "pandas"
    return "polars" if POLARS_AVAILABLE else "arrow"  # use_polars picks the reader, not the result


def _convert(table: pa.Table, kind: str):
    from .convert import from_arrow

    return from_arrow(table, kind)


def read_parquet(path, columns: list[str] | None = None, filters=None, use_polars: bool = True,
                 return_pandas: bool = True, *, return_type: str | None = None):
    """Read Parquet data (see the module doc for ``path`` and ``filters``).

    Returns pandas by default; ``return_pandas=False`` gives polars (a pyarrow Table when polars
    is not installed); ``return_type`` ('pandas' | 'polars' | 'arrow') overrides both. Plain files are read
    with polars when ``use_polars`` (multi-threaded), else with pyarrow; filters are pushed down.
    """
    kind = _kind(use_polars, return_pandas, return_type)
    address = _bundle_address(path)
    if address is not None:
        bundle, t = _open_table(address)
        with bundle:
            if filters is None:
                table = t.read(columns=columns, return_type="arrow")
            else:
                cond, condvars = (filters, None) if isinstance(filters, str) else filters_to_condition(filters)
                table = t.read_where(cond, columns=columns, condvars=condvars, return_type="arrow")
        return _convert(table, kind)
    src = _files(path)
    if isinstance(filters, str):
        reader = _engine_scan(src, filters, columns)
        return _convert(pa.Table.from_batches(list(_engine_batches(reader)), schema=reader.schema), kind)
    expr = _arrow_filter(filters)
    if use_polars and POLARS_AVAILABLE and kind != "arrow":
        try:
            source = src if isinstance(src, list) or not os.path.isdir(src) else str(Path(src) / "**" / "*.parquet")
            lf = pl.scan_parquet(source)
            if columns is not None:
                lf = lf.select(list(columns))
            if expr is not None:
                lf = lf.filter(_polars_filter(filters))
            df = lf.collect()
            if kind == "polars":
                return df
            # pandas: through Arrow with the file's pandas metadata (index, dtypes), as pandas wrote it
            meta = read_parquet_schema(src).metadata
            return _convert(df.to_arrow().replace_schema_metadata(meta), kind)
        except (pl.exceptions.PolarsError, OSError) as e:
            logger.warning("polars could not read %s (%s); reading with pyarrow", src, e)
    table = ds.dataset(src, format="parquet").to_table(columns=columns, filter=expr)
    return _convert(table, kind)


_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}


def _polars_filter(filters):
    ors: Any = None
    for conj in _dnf(filters):
        ands: Any = None
        for col, op, value in conj:
            c = pl.col(col)
            op = _OPS[str(op).lower()]
            if op in ("IN", "NOT IN"):
                e = c.is_in(list(value))
                e = ~e if op == "NOT IN" else e
            else:
                e = _COMPARE[op](c, value)
            ands = e if ands is None else ands & e
        ors = ands if ors is None else ors | ands
    return ors


def read_parquet_lazy(path, columns: list[str] | None = None, engine: str = "polars"):
    """A polars LazyFrame (engine='polars'), or a pyarrow RecordBatch iterator (engine='arrow')."""
    address = _bundle_address(path)
    if address is not None:
        bundle, t = _open_table(address)
        with bundle:
            path = t.info()["part_files"]
    if engine == "polars":
        if not POLARS_AVAILABLE:
            raise ImportError("read_parquet_lazy(engine='polars') needs polars: pip install polars")
        src = _files(path)
        if isinstance(src, str) and os.path.isdir(src):
            src = str(Path(src) / "**" / "*.parquet")
        lf = pl.scan_parquet(src)
        return lf.select(list(columns)) if columns else lf
    if engine == "arrow":
        return ds.dataset(_files(path), format="parquet").to_batches(columns=columns)
    raise ValueError("engine must be 'polars' or 'arrow'")


def read_parquet_schema(path) -> pa.Schema:
    """The Arrow schema, without reading data (a bundle table's from its manifest)."""
    address = _bundle_address(path)
    if address is not None:
        bundle, t = _open_table(address)
        with bundle:
            return t.schema
    src = _files(path)
    if isinstance(src, list):
        return pq.read_schema(src[0])
    return ds.dataset(src, format="parquet").schema


def read_parquet_columns(path) -> list[str]:
    """The column names, without reading data."""
    return list(read_parquet_schema(path).names)


def write_parquet(data, path, compression: str = "zstd", *, use_polars: bool = False, **kwargs) -> None:
    """Write pandas / polars / pyarrow data to one Parquet file, atomically (temporary name, then
    rename). A bundle table address "BUNDLE:/t" writes (or replaces) that table in one commit."""
    address = None
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidArgumentError(f"write_parquet: path must be a file path or a bundle table address, got {path!r}")
    text = os.fspath(path)
    if ":/" in text and os.path.isdir(text[: text.rfind(":/")]):
        address = (text[: text.rfind(":/")], text[text.rfind(":/") + 1:])
    if address is not None:
        from .bundle import open as open_bundle

        with open_bundle(address[0], "a") as b:
            b.add_table(address[1], data, overwrite=True)
        return
    if use_polars and POLARS_AVAILABLE and type(data).__module__.startswith("polars"):
        df = data.collect() if type(data).__name__ == "LazyFrame" else data
        tmp = text + ".tmp"
        df.write_parquet(tmp, compression=compression, **kwargs)
        os.replace(tmp, text)
        return
    from .convert import to_arrow_stream

    if type(data).__module__.startswith("polars"):
        table = data.collect().to_arrow() if type(data).__name__ == "LazyFrame" else data.to_arrow()
    else:
        stream, _ = to_arrow_stream(data, what=f"Parquet file {text}")
        table = stream if isinstance(stream, pa.Table) else pa.table(stream)
        meta = dict(table.schema.metadata or {})
        meta.pop(b"octavo.library", None)
        table = table.replace_schema_metadata(meta or None)
    write_table_atomic(table, text, compression=compression, **kwargs)



class ParquetReader:
    """Stream Parquet data in batches of ``batch_size`` rows (memory bounded by a batch and a row
    group), as pandas (default), polars or pyarrow.

        for chunk in ParquetReader("exp.octavo:/headers", batch_size=100_000, columns=["cdp"]): ...
    """

    def __init__(self, path, batch_size: int = 100_000, columns: list[str] | None = None, filters=None,
                 return_type: str = "pandas"):
        if int(batch_size) <= 0:
            raise InvalidArgumentError(f"batch_size must be positive, got {batch_size}")
        _kind(True, True, return_type)
        self.path, self.batch_size, self.columns, self.filters = path, int(batch_size), columns, filters
        self.return_type = return_type
        self._address = _bundle_address(path)

    @property
    def schema(self) -> pa.Schema:
        s = read_parquet_schema(self.path)
        return s if self.columns is None else pa.schema([s.field(c) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    @property
    def num_rows(self) -> int:
        if self._address is not None:
            bundle, t = _open_table(self._address)
            with bundle:
                return t.num_rows
        return ds.dataset(_files(self.path), format="parquet").count_rows()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self._address is not None:
            bundle, t = _open_table(self._address)
            with bundle:
                if self.filters is None:
                    yield from t.iter_batches(self.batch_size, self.columns, return_type="arrow")
                else:
                    cond, condvars = ((self.filters, None) if isinstance(self.filters, str)
                                      else filters_to_condition(self.filters))
                    yield from t.where(cond, columns=self.columns, condvars=condvars, chunk_size=self.batch_size,
                                       return_type="arrow")
            return
        if isinstance(self.filters, str):
            yield from _engine_batches(_engine_scan(_files(self.path), self.filters, self.columns, self.batch_size))
            return
        dataset = ds.dataset(_files(self.path), format="parquet")
        yield from dataset.to_batches(columns=self.columns, filter=_arrow_filter(self.filters),
                                      batch_size=self.batch_size)

    def __iter__(self):
        pending: list = []
        rows = 0
        for batch in self._batches():
            table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            if table.num_rows == 0:
                continue
            pending.append(table)
            rows += table.num_rows
            while rows >= self.batch_size:
                whole = pa.concat_tables(pending)
                yield _convert(whole.slice(0, self.batch_size), self.return_type)
                rest = whole.slice(self.batch_size)
                pending, rows = ([rest] if rest.num_rows else []), rest.num_rows
        if rows:
            yield _convert(pa.concat_tables(pending), self.return_type)

    def __enter__(self) -> ParquetReader:
        return self

    def __exit__(self, *exc) -> None:
        pass
