"""Table: a Parquet-backed table node (reads, conditional reads, appends, PyTables' row writer)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from . import _octavo, query
from .convert import (
    LIBRARY_KEY_TEXT,
    Columns,
    Frame,
    TableData,
    check_return_type,
    columns_arg,
    from_arrow,
    range_args,
    to_arrow_stream,
)
from .enums import SchemaMode, name_arg
from .errors import InvalidArgumentError, SchemaError, check_text, translate_stream_error
from .node import Node
from .progress import progress_callback

if TYPE_CHECKING:
    from .bundle import Bundle

_OPTION_KEYS = (
    "compression", "compression_level", "row_group_size", "part_max_rows",
    "write_statistics", "write_page_index", "data_page_size", "dictionary", "dictionary_page_limit",
)


def set_block_cache_size(nbytes: int) -> None:
    """Size of the process-wide cache of decoded 8,192-row blocks that reads of part of a row
    group keep from a block's second read on (default 32 MiB; 0 = off)."""
    _octavo.set_block_cache_size(int(nbytes))


def block_cache_size() -> int:
    return _octavo.block_cache_size()


def _check_condition(condition: str, condvars: dict | None) -> None:
    check_text(condition, "where condition")
    for k, v in (condvars or {}).items():
        check_text(k, "condvar name")
        check_text(v, f"condvar {k!r}")


def _options(options: dict | None, kwargs: dict) -> dict:
    opts = dict(options or {})
    for k in list(kwargs):
        if k in _OPTION_KEYS:
            opts[k] = kwargs.pop(k)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
    return opts


_LARGE_APPEND_ROWS = 1_000_000  # progress=None draws a bar only for appends of at least this many rows


def _known_rows(data: Any) -> int | None:
    """The rows of in-memory data (frames, Arrow tables, arrays, dicts of columns); None for streams."""
    num_rows = getattr(data, "num_rows", None)
    if isinstance(num_rows, int):
        return num_rows
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[0], int):
        return shape[0]
    if isinstance(data, dict) and data:
        first = next(iter(data.values()))
        return len(first) if hasattr(first, "__len__") else None
    return None


class RowWriter:
    """PyTables' ``table.row`` pattern: set fields, ``append()``, then ``table.flush()``.

    Rows are buffered column-wise and written as one new part per flush (automatic
    every ``buffer_rows`` rows).
    """

    def __init__(self, table: Table, buffer_rows: int = 100_000):
        self._table = table
        self._schema = table.schema
        self._names = self._schema.names
        self._buffer: dict[str, list] = {n: [] for n in self._names}
        self._current: dict[str, Any] = {}
        self._buffer_rows = buffer_rows
        self._n = 0

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self._buffer:
            raise KeyError(f"table {self._table.path} has no column {key!r}; columns: {self._names}")
        self._current[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._current[key]

    def append(self) -> None:
        for n in self._names:
            self._buffer[n].append(self._current.get(n))
        self._current = {}
        self._n += 1
        if self._n >= self._buffer_rows:
            self.flush()

    def flush(self) -> None:
        if self._n == 0:
            return
        try:
            arrays = [pa.array(self._buffer[f.name], type=f.type) for f in self._schema]
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise SchemaError(f"table {self._table.path}: buffered rows do not match the schema: {e}") from e
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        self._buffer = {n: [] for n in self._names}
        self._n = 0
        self._table._native.append(pa.Table.from_batches([batch]).__arrow_c_stream__())

    @property
    def pending(self) -> int:
        return self._n


class Table(Node):
    kind = "table"

    def __init__(self, bundle: Bundle, path: str, native: _octavo.Table | None = None):
        super().__init__(bundle, path)
        self._engine = native or bundle._native.open_table(path)
        self._row: RowWriter | None = None

    @property
    def _native(self) -> _octavo.Table:
        if self._bundle._closed:  # the engine handle would still read: refuse, as the bundle does
            return self._bundle._native  # type: ignore[return-value]  # (a stand-in raising ClosedBundleError on use)
        return self._engine

    # --- metadata (manifest only, no data file is opened) -------------------
    @property
    def schema(self) -> pa.Schema:
        return pa.Schema._import_from_c_capsule(self._native.schema())

    @property
    def num_rows(self) -> int:
        return self._native.num_rows()

    nrows = num_rows

    def __len__(self) -> int:
        return self.num_rows

    @property
    def column_names(self) -> list[str]:
        return self.schema.names

    colnames = column_names

    def info(self) -> dict:
        d = self._native.info()
        d["schema"] = pa.Schema._import_from_c_capsule(d["schema"])
        return d

    @property
    def part_paths(self) -> list[str]:
        """Absolute paths of the Parquet files holding this table at this commit, in row order."""
        return list(self._native.info()["part_files"])

    def delta_version(self, commit: int | None = None) -> int:
        """The Delta Lake version of this table's log holding its rows as of octavo commit
        ``commit`` (default: the commit this handle sees); see ``Bundle.get_delta_path``."""
        return self._bundle._native.delta_version(self._path, -1 if commit is None else int(commit))

    # --- reads ----------------------------------------------------------------
    def read(self, start: int | None = None, stop: int | None = None, *, columns: Columns = None,
             return_type: str | None = None) -> Frame:
        """Rows [start, stop) of the given columns (all by default)."""
        check_return_type(return_type)
        st, sp = range_args(lambda: self.num_rows, start, stop)
        if return_type == "arrow":  # the engine drops octavo's own schema key: no conversion left
            return pa.table(self._native.read(columns_arg(columns), st, sp, True, LIBRARY_KEY_TEXT))
        return from_arrow(pa.table(self._native.read(columns_arg(columns), st, sp)), return_type, row_offset=st)

    def read_arrow(self, start: int | None = None, stop: int | None = None, *, columns: Columns = None) -> pa.Table:
        return self.read(start, stop, columns=columns, return_type="arrow")

    def head(self, n: int = 10, *, columns: Columns = None, return_type: str | None = None) -> Frame:
        return self.read(0, n, columns=columns, return_type=return_type)

    def __getitem__(self, key: slice | str) -> Frame:
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise InvalidArgumentError("table slices support step 1 only")
            return self.read(key.start, key.stop)
        if isinstance(key, str):
            return self.read(columns=[key])
        raise TypeError("index a table with a slice (rows) or a column name")

    def iter_batches(self, chunk_size: int = 10_000, columns: Columns = None, return_type: str | None = None, *,
                     start: int | None = None, stop: int | None = None) -> Iterator[Frame]:
        """Yield chunks of ``chunk_size`` rows; memory follows ``chunk_size`` (flat columns are
        read page by page; nested and dictionary columns a row group at a time)."""
        check_return_type(return_type)
        if int(chunk_size) <= 0:
            raise InvalidArgumentError(f"chunk_size must be positive, got {chunk_size}")
        st, sp = range_args(lambda: self.num_rows, start, stop)
        reader = pa.RecordBatchReader.from_stream(
            self._native.scan(int(chunk_size), columns_arg(columns), st, sp))
        offset = st
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowException as e:  # errors raised inside the C++ stream
                raise translate_stream_error(e) from e
            yield from_arrow(pa.Table.from_batches([batch]), return_type, row_offset=offset)
            offset += batch.num_rows

    # --- conditional reads (docs/queries.md) ----------------------------------------
    def where(self, condition: str, columns: Columns = None, start: int | None = None,
              stop: int | None = None, condvars: dict | None = None, chunk_size: int = 65_536,
              return_type: str | None = None, use_index: bool = True) -> query.WhereResult:
        """Iterate over the rows where ``condition`` holds, in chunks of ``chunk_size`` rows.

        ``condition`` is PyTables / SQL syntax, e.g. ``"(pressure > 3) & (name == 'a')"``;
        ``condvars`` binds names to values. Parts and row groups whose statistics rule the
        condition out are skipped; the returned object's ``.stats`` says what was skipped.
        """
        _check_condition(condition, condvars)
        return query.WhereResult(self, condition, columns, start, stop, condvars, chunk_size, return_type, use_index)

    def read_where(self, condition: str, columns: Columns = None, start: int | None = None,
                   stop: int | None = None, condvars: dict | None = None, return_type: str | None = None,
                   use_index: bool = True) -> Frame:
        """All rows where ``condition`` holds, as one DataFrame / Table (pandas keeps row numbers as index)."""
        _check_condition(condition, condvars)
        return query.read_where(self, condition, columns, start, stop, condvars, return_type, use_index)

    def get_where_list(self, condition: str, start: int | None = None, stop: int | None = None,
                       condvars: dict | None = None, sort: bool = True, use_index: bool = True) -> np.ndarray:
        """Row numbers (numpy int64, ascending) where ``condition`` holds."""
        _check_condition(condition, condvars)
        return query.get_where_list(self, condition, start, stop, condvars, use_index)

    def read_coordinates(self, coords: Any, columns: Columns = None, return_type: str | None = None) -> Frame:
        """The rows with the given numbers (or a boolean mask), in the given order."""
        return query.read_coordinates(self, coords, columns, return_type)

    # --- sorting and secondary indexes (docs/queries.md) ----------------------------
    def sort_by(self, columns: Columns, *, row_group_size: int | None = None, run_rows: int | None = None,
                progress: bool | None = None) -> None:
        """Rewrite the table sorted by ``columns`` (one commit; external merge sort beyond ``run_rows``).
        ``progress``: rows sorted (see octavo.progress)."""
        query.sort_by(self, columns, row_group_size, run_rows, progress)

    def repack(self, *, sort_by: Columns = None, row_group_size: int | None = None) -> None:
        """Rewrite the table's parts (optionally sorted, with a new row-group size), one commit."""
        cols = [] if sort_by is None else columns_arg(sort_by)
        self._native.repack(cols, int(row_group_size or 0), 0)

    @property
    def sorted_by(self) -> list[str]:
        return list(self._native.info()["sorted_by"])

    def create_index(self, column: str, *, progress: bool | None = None) -> None:
        """Build a persistent secondary index on ``column`` (used by where/read_where/get_where_list).
        ``progress``: rows indexed (see octavo.progress)."""
        column = check_text(column, f"table {self._path}: column name")
        with progress_callback(progress, f"index {self._path}.{column}", "rows") as cb:
            self._native.create_index(column, progress=cb)

    def remove_index(self, column: str) -> None:
        self._native.remove_index(check_text(column, f"table {self._path}: column name"))

    @property
    def indexes(self) -> list[str]:
        """Columns with a secondary index."""
        return list(self._native.indexes())

    @property
    def cols(self) -> query.Cols:
        """PyTables-style column accessor: ``t.cols.x.create_index()``."""
        return query.Cols(self)

    @property
    def last_query_stats(self) -> dict | None:
        """What the last where/read_where/get_where_list on this handle skipped and read."""
        stats = getattr(self, "_last_stats", None)
        return None if stats is None else stats.to_dict()

    def __arrow_c_schema__(self) -> Any:
        """The table's Arrow schema as a PyCapsule (pa.schema(t) works)."""
        return self._native.schema()

    def lazy(self) -> Any:
        """A polars LazyFrame over the table: projection, predicate (where octavo's conditions
        say the same) and row-limit pushdown into the C++ scanner (octavo/scan.py)."""
        from .scan import lazy_frame
        return lazy_frame(self)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The whole table as an Arrow stream: pa.table(t), pl.from_arrow(...), duckdb."""
        return self._native.scan(1 << 16, [], 0, -1).__arrow_c_stream__(requested_schema)

    # --- writes ----------------------------------------------------------------
    def append(self, data: TableData, *, schema_mode: str | None = None, progress: bool | None = None) -> None:
        """Append rows as new immutable parts, in one commit. Columns are matched by name and
        converted where no value can change (docs/import.md); anything lossy is a SchemaError.
        ``schema_mode="add_columns"`` (octavo.SchemaMode) adds the data's extra columns
        (nullable, NULL in the earlier rows) instead of refusing them. ``progress``: rows written
        (see octavo.progress); by default only for large appends (a million rows or a stream)."""
        mode = SchemaMode.STRICT.value if schema_mode is None else name_arg(schema_mode, SchemaMode, "schema_mode", check=True)
        if self._row is not None and self._row.pending:
            self._row.flush()
        rows = _known_rows(data)
        stream, _ = to_arrow_stream(data, what=f"table {self._path!r}", target=self.schema)
        with progress_callback(progress, f"append {self._path}", "rows", size=rows, min_size=_LARGE_APPEND_ROWS) as cb:
            self._native.append(stream.__arrow_c_stream__(), add_columns=mode == SchemaMode.ADD_COLUMNS.value,
                                progress=cb, expected_rows=rows or 0)

    @property
    def row(self) -> RowWriter:
        if self._row is None:
            self._row = RowWriter(self)
        return self._row

    def flush(self) -> None:
        if self._row is not None:
            self._row.flush()

    def __repr__(self) -> str:
        s = self.schema
        cols = ", ".join(f"{f.name}: {f.type}" for f in s)
        return f"<octavo.Table {self._path!r} rows={self.num_rows} [{cols}]>"

    def _repr_html_(self) -> str:
        """Notebooks: path, rows, parts and size, the schema, and the first rows."""
        import html

        i = self._native.info()
        schema = pa.Schema._import_from_c_capsule(i["schema"])
        cols = "".join(f"<tr><td><code>{html.escape(f.name)}</code></td><td>{html.escape(str(f.type))}</td></tr>"
                       for f in schema)
        head = self.read(0, 5, return_type="arrow")
        names = "".join(f"<th>{html.escape(n)}</th>" for n in head.column_names)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))[:80]}</td>" for v in r.values()) + "</tr>"
                       for r in head.to_pylist())
        return (f"<div><b>octavo table</b> <code>{html.escape(self._path)}</code>: {i['num_rows']:,} rows, "
                f"{i['num_parts']} parts, {i['size_bytes'] / 1e6:.1f} MB"
                f"<details><summary>schema ({len(schema)} columns)</summary><table><tr><th>column</th>"
                f"<th>type</th></tr>{cols}</table></details>"
                f"<table><tr>{names}</tr>{rows}</table>"
                f"{'<i>first 5 rows</i>' if i['num_rows'] > 5 else ''}</div>")
