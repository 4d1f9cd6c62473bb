"""Conversions between user data (pandas, polars, pyarrow, numpy) and Arrow streams.

All heavy lifting is Arrow's C++ (via pyarrow / polars); nothing here loops over rows.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from .enums import ReturnType, name_arg
from .errors import InvalidArgumentError, SchemaError, check_int, check_text

# Schema metadata key recording which dataframe library a table came from, so that
# get_table() hands back the same kind of object (polars in -> polars out).
LIBRARY_KEY = b"octavo.library"
LIBRARY_KEY_TEXT = LIBRARY_KEY.decode()
RETURN_TYPES = tuple(t.value for t in ReturnType)

# Table data the API accepts: pandas / polars DataFrames, pyarrow Tables, RecordBatches and
# readers, any object with __arrow_c_stream__, dicts of columns (pandas and pyarrow are untyped).
TableData: TypeAlias = Any
# What reads return: a pandas or polars DataFrame or a pyarrow Table (see ``return_type``).
Frame: TypeAlias = Any
# A column selection: None for all, one name, or names.
Columns: TypeAlias = "str | Sequence[str] | None"


def _is_pandas(obj: Any) -> bool:
    mod = type(obj).__module__
    return mod.startswith("pandas") and hasattr(obj, "columns") and hasattr(obj, "index")


def _is_polars(obj: Any) -> bool:
    return type(obj).__module__.startswith("polars") and type(obj).__name__ in ("DataFrame", "LazyFrame")


def library_of(data: Any) -> str:
    if _is_pandas(data):
        return "pandas"
    if _is_polars(data):
        return "polars"
    if isinstance(data, dict):
        return "pandas"
    return "arrow"


def to_arrow_stream(data: Any, *, library: str | None = None, what: str = "data", target: pa.Schema | None = None):
    """Return (object with __arrow_c_stream__, arrow schema) for any supported input.

    ``target``: the schema of the table being appended to (pandas frames are adapted to it:
    see _pandas_to_arrow). Input that pyarrow cannot convert (mixed-type object columns,
    unencodable column names) is a SchemaError naming ``what`` (e.g. "table '/t'"), chained
    from pyarrow's error."""
    try:
        stream, schema = _to_arrow_stream(data, library, target)
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"{what}: a column name or value {e.object!r} is not valid Unicode: {e.reason}; "
                                   "octavo stores names and text as UTF-8") from e
    except (pa.ArrowException, OverflowError) as e:
        raise SchemaError(f"{what}: the data cannot be converted to Arrow: {e}") from e
    for name in schema.names:
        check_text(name, f"{what}: column name")
    return stream, schema


INDEX_COLUMN = "__index_level_0__"


def _pandas_to_arrow(df, target: pa.Schema | None) -> pa.Table:
    """A DataFrame as Arrow. Row labels: a RangeIndex is kept as metadata only, any other
    unnamed index (a filtered frame's) is not data and is dropped, a named index is stored as
    a column of its name (pandas metadata marks it as the index), matched by name on append.
    Appending (``target`` given): a float column with only whole numbers and NaN, for an
    integer column of the table, is an int column that held a NULL -> nullable integers."""
    import numpy as np
    import pandas as pd

    if isinstance(df, pd.Series):
        df = df.to_frame()
    names = [n for n in df.index.names if n is not None]
    if names:
        preserve = True
    elif isinstance(df.index, pd.RangeIndex):
        preserve = None
    else:
        # tables made before unnamed indexes were dropped hold it as a column: keep filling it
        preserve = target is not None and INDEX_COLUMN in target.names
    if target is not None:
        fixed = {}
        for name in df.columns:
            if not isinstance(name, str) or name not in target.names:
                continue
            want = target.field(name).type
            col = df[name]
            if pa.types.is_dictionary(want):
                want = want.value_type
            if pa.types.is_integer(want) and isinstance(col, pd.Series) and col.dtype.kind == "f":
                v = col.to_numpy()
                whole = np.isnan(v) | (np.isfinite(v) & (v == np.floor(v)))
                if whole.all():
                    fixed[name] = col.astype("Int64")
        if fixed:
            df = df.assign(**fixed)
    return pa.Table.from_pandas(df, preserve_index=preserve)


def _to_arrow_stream(data: Any, library: str | None, target: pa.Schema | None = None):
    lib = library or library_of(data)
    if _is_pandas(data):
        table = _pandas_to_arrow(data, target)
    elif _is_polars(data):
        if type(data).__name__ == "LazyFrame":
            data = data.collect()
        table = pa.table(data)  # via __arrow_c_stream__, zero-copy
    elif isinstance(data, dict):
        table = pa.table(data)
    elif isinstance(data, pa.RecordBatchReader):
        return data, _with_library(data.schema, lib)
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    elif hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
        return reader, _with_library(reader.schema, lib)
    else:
        import numpy as np

        if isinstance(data, np.ndarray) and data.dtype.names:
            table = pa.table({name: data[name] for name in data.dtype.names})
        else:
            raise SchemaError(  # also a TypeError, as before
                f"cannot store a {type(data).__name__}: pass a pandas or polars DataFrame, a pyarrow "
                "Table/RecordBatchReader, a dict of numpy arrays or a numpy structured array"
            )
    schema = _with_library(table.schema, lib)
    return table.replace_schema_metadata(schema.metadata), schema


def _with_library(schema: pa.Schema, lib: str) -> pa.Schema:
    meta = dict(schema.metadata or {})
    meta[LIBRARY_KEY] = lib.encode()
    return schema.with_metadata(meta)


def stored_library(schema: pa.Schema) -> str:
    meta = schema.metadata or {}
    return meta.get(LIBRARY_KEY, b"arrow").decode()


def check_return_type(return_type: str | None) -> None:
    if return_type is not None:
        name_arg(return_type, ReturnType, "return_type", check=True)


def from_arrow(table: pa.Table, return_type: str | None, *, row_offset: int = 0):
    """Convert a pa.Table read from a table into the requested (or stored) library's object."""
    check_return_type(return_type)
    kind = return_type or stored_library(table.schema)
    if kind == "arrow":
        return _strip_octavo_meta(table)
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(_strip_pandas_meta(table))
    return to_pandas(table, row_offset=row_offset)


def _strip_octavo_meta(table: pa.Table) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta.pop(LIBRARY_KEY, None)
    return table.replace_schema_metadata(meta or None)


def _strip_pandas_meta(table: pa.Table) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta.pop(LIBRARY_KEY, None)
    meta.pop(b"pandas", None)
    return table.replace_schema_metadata(meta or None)


def to_pandas(table: pa.Table, *, row_offset: int = 0):
    """pa.Table -> DataFrame, restoring index and MultiIndex columns from pandas metadata.

    A RangeIndex is stored as metadata only; after appends or a row-range read it is
    rebuilt to number the rows actually returned (like PyTables row numbers).
    """
    import pandas as pd

    meta = (table.schema.metadata or {}).get(b"pandas")
    df = table.to_pandas()
    if meta:
        info = json.loads(meta)
        idx = info.get("index_columns") or []
        if len(idx) == 1 and isinstance(idx[0], dict) and idx[0].get("kind") == "range":
            start = idx[0].get("start", 0)
            step = idx[0].get("step", 1) or 1
            first = start + row_offset * step
            df.index = pd.RangeIndex(first, first + len(df) * step, step, name=idx[0].get("name"))
    return df


def columns_arg(columns: Columns) -> list[str]:
    """A column selection as the C++ side takes it: [] for all, a single name, or names."""
    if columns is None:
        return []
    if isinstance(columns, str):
        return [check_text(columns, "column name")]
    return [check_text(str(c), "column name") for c in columns]


def range_args(num_rows: Callable[[], int], start, stop) -> tuple[int, int]:
    """[start, stop) as the C++ side takes it, meaning what a Python slice means. Row numbers
    in [0, 2**62) pass as they are: the engine clamps them to the table (its stop -1 is "to
    the end"). Others are resolved against num_rows(): negative values count from the end, a
    huge int (beyond the engine's int64) is clamped. stop <= start is empty."""
    st = 0 if start is None else check_int(start, "start")
    sp = None if stop is None else check_int(stop, "stop")
    if 0 <= st < _ROW_LIMIT and (sp is None or 0 <= sp < _ROW_LIMIT):
        return st, -1 if sp is None else max(st, sp)
    st, sp, _ = slice(st, sp).indices(num_rows())
    return st, max(st, sp)


_ROW_LIMIT = 1 << 62


def write_table_atomic(table: pa.Table, path: str | os.PathLike[str], **kwargs) -> None:
    """``table`` as one Parquet file at ``path`` that appears whole or not at all: written to
    ``path.tmp``, then renamed. ``kwargs`` go to pyarrow.parquet.write_table."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    pq.write_table(table, tmp, **kwargs)
    os.replace(tmp, path)
