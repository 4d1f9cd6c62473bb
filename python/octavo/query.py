"""Queries: conditional reads (conditions compiled and pushed down in C++) and SQL over a
bundle through DuckDB. Grammar, semantics and pushdown: docs/queries.md.
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from . import _octavo
from .convert import check_return_type, columns_arg, from_arrow, range_args, stored_library
from .errors import InvalidArgumentError, QueryError, translate_stream_error
from .progress import progress_callback

if TYPE_CHECKING:
    from .table import Table

# --- conditions ------------------------------------------------------------------------


def condvars_arg(condvars: dict | None) -> dict | None:
    """Python values the C++ side understands: bool, int, float, str, bytes, None."""
    if not condvars:
        return None
    out = {}
    for k, v in dict(condvars).items():
        if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 0) == 0:  # numpy scalar
            v = v.item()
        if isinstance(v, (_dt.datetime, _dt.date)):
            v = v.isoformat(sep=" ") if isinstance(v, _dt.datetime) else v.isoformat()
        elif hasattr(v, "isoformat") and not isinstance(v, (str, bytes)):  # pandas Timestamp
            v = v.isoformat()
        out[str(k)] = v
    return out


class WhereResult:
    """The rows of a table where a condition holds, as an iterator of chunks.

    ``stats`` reports what the query skipped and read (complete once iteration ends):
    parts_total/parts_skipped, row_groups_total/row_groups_skipped, rows_scanned,
    rows_selected, bytes_read, columns_read, pages_total/pages_skipped (data pages of the
    columns read only at matching rows, and how many of them were never decompressed).
    """

    def __init__(self, table, condition: str, columns, start, stop, condvars, chunk_size: int,
                 return_type: str | None, use_index: bool = True):
        check_return_type(return_type)
        if int(chunk_size) < 0 or (chunk_size == 0 and return_type != "arrow"):
            # 0 (internal, read_where): batches as decoded, no exact-size copy
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        st, sp = range_args(lambda: table.num_rows, start, stop)
        stream, self._stats = table._native.where(condition, columns_arg(columns), st, sp,
                                                  condvars_arg(condvars), int(chunk_size), bool(use_index))
        self._reader = pa.RecordBatchReader.from_stream(stream)
        self._return_type = return_type
        table._last_stats = self._stats
        self._labels = None
        if (return_type or stored_library(table.schema)) == "pandas" and _has_range_index(table.schema):
            # pandas chunks carry the matching rows' labels, as read_where's frame and
            # iter_batches' chunks do (the stream has no row numbers: take them from the where list)
            self._labels = (table, condition, start, stop, condvars, use_index)

    @property
    def schema(self) -> pa.Schema:
        return self._reader.schema

    @property
    def stats(self) -> dict:
        return self._stats.to_dict()

    def batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowException as e:
                raise translate_stream_error(e) from e
            yield batch

    def __iter__(self):
        rows, pos = None, 0
        if self._labels is not None:
            import pandas as pd

            table, condition, start, stop, condvars, use_index = self._labels
            rows = _range_labels(table.schema, get_where_list(table, condition, start, stop, condvars, use_index))
            table._last_stats = self._stats
        for batch in self.batches():
            out = from_arrow(pa.Table.from_batches([batch]), self._return_type)
            if rows is not None:
                n = batch.num_rows
                out.index = pd.Index(rows[pos:pos + n], name=out.index.name)
                pos += n
            yield out

    def read_arrow(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches()), schema=self._reader.schema)

    def __repr__(self) -> str:
        return f"<octavo.WhereResult stats={self.stats}>"


def _range_labels(schema: pa.Schema, rows):
    """The RangeIndex labels of table rows `rows` (start + row * step of the stored range)."""
    import json

    idx = json.loads(schema.metadata[b"pandas"])["index_columns"][0]
    return idx.get("start", 0) + rows * (idx.get("step", 1) or 1)


def _has_range_index(schema: pa.Schema) -> bool:
    import json

    meta = (schema.metadata or {}).get(b"pandas")
    if not meta:
        return False
    idx = json.loads(meta).get("index_columns") or []
    return len(idx) == 1 and isinstance(idx[0], dict) and idx[0].get("kind") == "range"


def read_where(table, condition: str, columns=None, start=None, stop=None, condvars=None,
               return_type: str | None = None, use_index: bool = True):
    check_return_type(return_type)
    kind = return_type or stored_library(table.schema)
    if kind == "pandas" and _has_range_index(table.schema):
        # Like df[mask]: the frame keeps the original row numbers as its index.
        import pandas as pd

        rows = get_where_list(table, condition, start, stop, condvars, use_index)
        df = read_coordinates(table, rows, columns, "pandas")
        df.index = pd.Index(_range_labels(table.schema, rows), name=df.index.name)
        return df
    result = WhereResult(table, condition, columns, start, stop, condvars, 0, "arrow", use_index)
    return from_arrow(result.read_arrow(), kind)


def read_where_first(table, condition: str, limit: int, columns=None, start=None, condvars=None,
                     return_type: str | None = None):
    """The first `limit` rows (from `start`) where `condition` holds; the scan stops there."""
    if limit < 0:
        raise InvalidArgumentError(f"limit must be >= 0 (None for every row), got {limit}")
    check_return_type(return_type)
    kind = return_type or stored_library(table.schema)
    want_rows = kind == "pandas" and _has_range_index(table.schema)
    cols = columns_arg(columns)
    if want_rows:  # row numbers for the index (like df[mask].head(n)): read at the first matches
        import pandas as pd

        rows = get_where_list(table, condition, start, None, condvars)[:limit]
        df = read_coordinates(table, rows, columns, "pandas")
        df.index = pd.Index(_range_labels(table.schema, rows), name=df.index.name)
        return df
    result = WhereResult(table, condition, columns, start, None, condvars, 0, "arrow")
    batches, n = [], 0
    for b in result.batches():
        if n >= limit:
            break
        batches.append(b.slice(0, limit - n))
        n += batches[-1].num_rows
    out = pa.Table.from_batches(batches, schema=result.schema)
    return from_arrow(out if not cols else out.select(cols), kind)


def get_where_list(table, condition: str, start=None, stop=None, condvars=None, use_index: bool = True):
    import numpy as np

    st, sp = range_args(lambda: table.num_rows, start, stop)
    raw, stats = table._native.get_where_list(condition, st, sp, condvars_arg(condvars), bool(use_index))
    table._last_stats = stats
    return np.frombuffer(raw, dtype=np.int64).copy()


def read_coordinates(table, rows, columns=None, return_type: str | None = None):
    import numpy as np

    check_return_type(return_type)
    arr = np.asarray(rows)
    if arr.dtype == bool:  # a boolean mask, like numpy fancy indexing
        arr = np.flatnonzero(arr)
    arr = np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)
    out = pa.table(table._native.read_coordinates(arr.tobytes(), columns_arg(columns)))
    kind = return_type or stored_library(out.schema)
    if kind == "pandas":
        import pandas as pd

        df = from_arrow(out, "pandas")
        if _has_range_index(out.schema):
            df.index = pd.Index(arr, name=df.index.name)
        return df
    return from_arrow(out, kind)


# --- sorting and secondary indexes ----------------------------------------------------


def sort_by(table, columns, row_group_size: int | None = None, run_rows: int | None = None,
            progress: bool | None = None) -> None:
    cols = columns_arg(columns)
    if not cols:
        raise ValueError("sort_by needs at least one column")
    with progress_callback(progress, f"sort {table._path}", "rows") as cb:
        table._native.repack(cols, int(row_group_size or 0), int(run_rows or 0), progress=cb)


class Column:
    """PyTables' ``table.cols.<name>``: index management for one column."""

    def __init__(self, table, name: str):
        self._table, self.name = table, name

    def create_index(self, *args, **kwargs) -> None:
        """Build the column's index (PyTables' optlevel/kind arguments are accepted and ignored)."""
        self._table.create_index(self.name)

    def remove_index(self) -> None:
        self._table.remove_index(self.name)

    @property
    def is_indexed(self) -> bool:
        return self.name in self._table.indexes

    def __repr__(self) -> str:
        return f"<octavo.Column {self._table.path}.{self.name}{' (indexed)' if self.is_indexed else ''}>"


class Cols:
    """PyTables' ``table.cols``: ``t.cols.x.create_index()``, ``t.cols['x']``."""

    _table: Table  # set through object.__setattr__: __getattr__ serves column names

    def __init__(self, table):
        object.__setattr__(self, "_table", table)

    def _f_col(self, name: str) -> Column:
        if name not in self._table.column_names:
            from .errors import NotFoundError
            raise NotFoundError(f"table {self._table.path} has no column {name!r}; its columns are: "
                                + ", ".join(self._table.column_names))
        return Column(self._table, name)

    __getitem__ = _f_col

    def __getattr__(self, name: str) -> Column:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._f_col(name)

    def __dir__(self):
        return list(self._table.column_names)

    @property
    def _v_colnames(self) -> list[str]:
        return list(self._table.column_names)


# --- SQL through DuckDB ----------------------------------------------------------------


def _duckdb():
    try:
        import duckdb
    except ImportError as e:  # pragma: no cover - duckdb is a dependency
        raise ImportError("octavo's SQL queries run on DuckDB, which is not installed: pip install duckdb") from e
    return duckdb


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _source(con, table, n: int) -> str:
    files = table.part_paths
    if files:
        return "read_parquet([" + ", ".join(_sql_str(f) for f in files) + "])"
    # No part yet: an empty relation with the table's schema.
    name = f"__octavo_empty_{n}"
    schema = table.schema.remove_metadata()
    con.register(name, schema.empty_table())
    return _ident(name)


def connect(bundle, only: dict[str, str] | None = None):
    """A DuckDB connection where the bundle's tables (at its open commit) are views.

    Every table is visible by its quoted full path ("/data/readout"); root-level tables
    also by their bare name (readout). ``only`` maps view names to table paths instead.
    """
    duckdb = _duckdb()
    con = duckdb.connect()
    # DuckDB keeps its own pool; it gets octavo's thread count (set_num_threads).
    con.execute(f"SET threads = {int(_octavo.get_num_threads())}")
    if only is not None:
        views = [(name, path) for name, path in only.items()]
    else:
        views = []
        for path in bundle.list_tables():
            views.append((path, path))
            if path.count("/") == 1:
                views.append((path[1:], path))
    sources: dict[str, str] = {}
    for name, path in views:
        if path not in sources:
            sources[path] = _source(con, bundle.table(path), len(sources))
        con.execute(f"CREATE VIEW {_ident(name)} AS SELECT * FROM {sources[path]}")
    return con


def _run(con, sql: str, return_type: str | None, stream: bool):
    duckdb = _duckdb()
    if return_type is not None and return_type not in ("pandas", "polars", "arrow"):
        raise ValueError(f"return_type must be 'pandas', 'polars', 'arrow' or None, got {return_type!r}")
    try:
        rel = con.sql(sql)
        if rel is None:  # a statement without a result
            return None
        if stream:
            reader = rel.to_arrow_reader()

            def batches(reader=reader, con=con, rel=rel):  # keeps the connection alive
                while True:
                    try:
                        yield reader.read_next_batch()
                    except StopIteration:
                        return

            return pa.RecordBatchReader.from_batches(reader.schema, batches())
        kind = return_type or "pandas"
        if kind == "arrow":
            return rel.to_arrow_table()
        if kind == "polars":
            return rel.pl()
        return rel.df()
    except duckdb.Error as e:
        raise QueryError(f"SQL query failed: {e}") from e


def sql(bundle, query: str, return_type: str | None = None, stream: bool = False):
    return _run(connect(bundle), query, return_type, stream)


_TABLE_WORD = re.compile(r"(?i)\b(from|join)(\s+)table\b")
_TABLE_DOT = re.compile(r"(?i)(?<![\w\"])table(\s*)\.")


def _quote_table_keyword(query: str) -> str:
    """`table` is an SQL keyword: write FROM table / JOIN table / table.col as "table"."""
    out = []
    for i, part in enumerate(re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", query)):
        if i % 2 == 0:
            part = _TABLE_WORD.sub(lambda m: f'{m.group(1)}{m.group(2)}"table"', part)
            part = _TABLE_DOT.sub(lambda m: f'"table"{m.group(1)}.', part)
        out.append(part)
    return "".join(out)


def query_table(bundle, name: str, query: str, return_type: str | None = None, stream: bool = False):
    path = name if name.startswith("/") else "/" + name
    bundle.table(path)  # NotFoundError for a missing table
    con = connect(bundle, only={"table": path})
    return _run(con, _quote_table_keyword(query), return_type, stream)
