"""Python face of a bundle: PyTables-style hierarchy plus the DataFolio-style table API.

Everything here forwards to the C++ engine (octavo._octavo); this module only adapts
arguments and converts results between Arrow and pandas/polars.
"""
from __future__ import annotations

import html
import json
import os
from typing import Any, Iterator

import pyarrow as pa

from . import _octavo
from .attrs import AttributeSet, attrs_to_json, to_json
from .convert import check_return_type, columns_arg, from_arrow, range_args, to_arrow_stream
from .errors import InvalidArgumentError, NotFoundError, SchemaError, check_fspath, check_text, translate_stream_error

_OPTION_KEYS = (
    "compression", "compression_level", "row_group_size", "part_max_rows",
    "write_statistics", "write_page_index", "data_page_size", "dictionary", "dictionary_page_limit",
)


def open(path: str | os.PathLike, mode: str = "r", *, commit: int | None = None,
         snapshot: str | None = None) -> "Bundle":
    """Open a bundle directory.

    mode: 'r' read-only snapshot of the newest commit (no lock); 'a' read/write, created if
    missing; 'w' create, or start an existing bundle over with an empty tree (as a new
    commit: older commits stay readable). ``commit=N`` opens an older commit read-only;
    ``snapshot="name"`` the commit a named snapshot points at (see Bundle.create_snapshot).
    """
    if mode not in ("r", "a", "w", "r+"):
        raise InvalidArgumentError(f"mode must be 'r', 'a' or 'w', got {mode!r}")
    if commit is not None and snapshot is not None:
        raise InvalidArgumentError("give commit= or snapshot=, not both")
    path = check_fspath(path, "bundle path")
    check_text(snapshot, "snapshot name")
    native = _octavo.Bundle.open(path, mode, -1 if commit is None else int(commit), snapshot or "")
    return Bundle(native, mode if commit is None and snapshot is None else "r")


def _join(where: str, name: str | None) -> str:
    if name is None:
        return where
    check_text(name, "node name")
    if where in ("", "/"):
        return "/" + name
    return where.rstrip("/") + "/" + name


def _check_condition(condition, condvars) -> None:
    check_text(condition, "where condition")
    for k, v in (condvars or {}).items():
        check_text(k, "condvar name")
        check_text(v, f"condvar {k!r}")


def _abs(name) -> str:
    """DataFolio names without a leading '/' live at the root; a Node (PyTables' ``where=group``)
    stands for its path."""
    if isinstance(name, Node):
        return name.path
    name = os.fspath(name) if isinstance(name, os.PathLike) else name
    check_text(name, "node path")
    return name if name.startswith("/") else "/" + name


class Node:
    kind = "node"

    def __init__(self, bundle: "Bundle", path: str):
        self._bundle = bundle
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    @property
    def name(self) -> str:
        return self._path.rsplit("/", 1)[-1] or "/"

    @property
    def attrs(self) -> AttributeSet:
        return AttributeSet(self._bundle, self._path)

    _v_attrs = attrs  # PyTables spelling

    @property
    def _v_pathname(self) -> str:
        return self._path

    @property
    def _v_name(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other._bundle is self._bundle and other._path == self._path

    def __hash__(self) -> int:
        return hash((id(self._bundle), self._path))

    def __repr__(self) -> str:
        return f"<octavo.{type(self).__name__} {self._path!r}>"


class Group(Node):
    kind = "group"

    def _children(self) -> list[dict]:
        return self._bundle._native.list_children(self._path)

    def __iter__(self) -> Iterator[Node]:
        for c in self._children():
            yield self._bundle._wrap(c["path"], c["kind"])

    def __len__(self) -> int:
        return len(self._children())

    def __contains__(self, name: str) -> bool:
        return self._bundle._native.exists(_join(self._path, name) if not name.startswith("/") else name)

    def __getitem__(self, name: str) -> Node:
        return self._bundle[_join(self._path, name) if not name.startswith("/") else name]

    def __getattr__(self, name: str) -> Node:  # PyTables natural naming: b.root.detector.readout
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except NotFoundError:
            raise AttributeError(f"group {self._path!r} has no child {name!r}") from None

    def keys(self) -> list[str]:
        return [c["path"].rsplit("/", 1)[-1] for c in self._children()]

    def __repr__(self) -> str:
        return f"<octavo.Group {self._path!r} ({len(self)} children)>"


class RowWriter:
    """PyTables' ``table.row`` pattern: set fields, ``append()``, then ``table.flush()``.

    Rows are buffered column-wise and written as one new part per flush (automatic
    every ``buffer_rows`` rows).
    """

    def __init__(self, table: "Table", buffer_rows: int = 100_000):
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


class SoftLink(Node):
    """A soft link (PyTables ``create_soft_link``): ``link()`` or ``bundle[path]`` resolves it."""

    kind = "link"

    @property
    def target(self) -> str:
        return self._bundle._native.link_target(self._path)

    def __call__(self) -> Node:
        return self._bundle[self._path]

    def is_dangling(self) -> bool:
        return not self._bundle._native.exists(self.target)

    def __repr__(self) -> str:
        return f"<octavo.SoftLink {self._path!r} -> {self.target!r}>"


class Table(Node):
    kind = "table"

    def __init__(self, bundle: "Bundle", path: str, native=None):
        super().__init__(bundle, path)
        self._native = native or bundle._native.open_table(path)
        self._row: RowWriter | None = None

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

    # --- reads ----------------------------------------------------------------
    def read(self, start: int | None = None, stop: int | None = None, *, columns: list[str] | None = None,
             return_type: str | None = None):
        """Rows [start, stop) of the given columns (all by default)."""
        check_return_type(return_type)
        cols = columns_arg(columns)
        st, sp = range_args(self.num_rows, start, stop)
        table = pa.table(self._native.read(cols, st, sp))
        offset = st if st >= 0 else max(0, self.num_rows + st)
        return from_arrow(table, return_type, row_offset=offset)

    def read_arrow(self, start: int | None = None, stop: int | None = None, *, columns=None) -> pa.Table:
        return self.read(start, stop, columns=columns, return_type="arrow")

    def head(self, n: int = 10, *, columns=None, return_type: str | None = None):
        return self.read(0, n, columns=columns, return_type=return_type)

    def __getitem__(self, key):
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise InvalidArgumentError("table slices support step 1 only")
            return self.read(key.start, key.stop)
        if isinstance(key, str):
            return self.read(columns=[key])
        raise TypeError("index a table with a slice (rows) or a column name")

    def iter_batches(self, chunk_size: int = 10_000, columns: list[str] | None = None,
                     return_type: str | None = None, *, start: int | None = None, stop: int | None = None):
        """Yield chunks of ``chunk_size`` rows with memory bounded by one row group."""
        check_return_type(return_type)
        if int(chunk_size) <= 0:
            raise InvalidArgumentError(f"chunk_size must be positive, got {chunk_size}")
        st, sp = range_args(self.num_rows, start, stop)
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
    def where(self, condition: str, columns: list[str] | None = None, start: int | None = None,
              stop: int | None = None, condvars: dict | None = None, chunk_size: int = 65_536,
              return_type: str | None = None, use_index: bool = True):
        """Iterate over the rows where ``condition`` holds, in chunks of ``chunk_size`` rows.

        ``condition`` is PyTables / SQL syntax, e.g. ``"(pressure > 3) & (name == 'a')"``;
        ``condvars`` binds names to values. Parts and row groups whose statistics rule the
        condition out are skipped; the returned object's ``.stats`` says what was skipped.
        """
        from . import query
        _check_condition(condition, condvars)
        return query.WhereResult(self, condition, columns, start, stop, condvars, chunk_size, return_type, use_index)

    def read_where(self, condition: str, columns: list[str] | None = None, start: int | None = None,
                   stop: int | None = None, condvars: dict | None = None, return_type: str | None = None,
                   use_index: bool = True):
        """All rows where ``condition`` holds, as one DataFrame / Table (pandas keeps row numbers as index)."""
        from . import query
        _check_condition(condition, condvars)
        return query.read_where(self, condition, columns, start, stop, condvars, return_type, use_index)

    def get_where_list(self, condition: str, start: int | None = None, stop: int | None = None,
                       condvars: dict | None = None, sort: bool = True, use_index: bool = True):
        """Row numbers (numpy int64, ascending) where ``condition`` holds."""
        from . import query
        _check_condition(condition, condvars)
        return query.get_where_list(self, condition, start, stop, condvars, use_index)

    def read_coordinates(self, coords, columns: list[str] | None = None, return_type: str | None = None):
        """The rows with the given numbers (or a boolean mask), in the given order."""
        from . import query
        return query.read_coordinates(self, coords, columns, return_type)

    # --- sorting and secondary indexes (docs/queries.md) ----------------------------
    def sort_by(self, columns, *, row_group_size: int | None = None, run_rows: int | None = None) -> None:
        """Rewrite the table sorted by ``columns`` (one commit; external merge sort beyond ``run_rows``)."""
        from . import query
        query.sort_by(self, columns, row_group_size, run_rows)

    def repack(self, *, sort_by=None, row_group_size: int | None = None) -> None:
        """Rewrite the table's parts (optionally sorted, with a new row-group size), one commit."""
        cols = [] if sort_by is None else columns_arg(sort_by)
        self._native.repack(cols, int(row_group_size or 0), 0)

    @property
    def sorted_by(self) -> list[str]:
        return list(self._native.info()["sorted_by"])

    def create_index(self, column: str) -> None:
        """Build a persistent secondary index on ``column`` (used by where/read_where/get_where_list)."""
        self._native.create_index(check_text(column, f"table {self._path}: column name"))

    def remove_index(self, column: str) -> None:
        self._native.remove_index(check_text(column, f"table {self._path}: column name"))

    @property
    def indexes(self) -> list[str]:
        """Columns with a secondary index."""
        return list(self._native.indexes())

    @property
    def cols(self):
        """PyTables-style column accessor: ``t.cols.x.create_index()``."""
        from . import query
        return query.Cols(self)

    @property
    def last_query_stats(self) -> dict | None:
        """What the last where/read_where/get_where_list on this handle skipped and read."""
        stats = getattr(self, "_last_stats", None)
        return None if stats is None else stats.to_dict()

    def __arrow_c_schema__(self):
        """The table's Arrow schema as a PyCapsule (pa.schema(t) works)."""
        return self._native.schema()

    def lazy(self):
        """A polars LazyFrame over the table: projection, predicate (where octavo's conditions
        say the same) and row-limit pushdown into the C++ scanner (octavo/scan.py)."""
        from .scan import lazy_frame
        return lazy_frame(self)

    def __arrow_c_stream__(self, requested_schema=None):
        """The whole table as an Arrow stream: pa.table(t), pl.from_arrow(...), duckdb."""
        return self._native.scan(1 << 16, [], 0, -1).__arrow_c_stream__(requested_schema)

    # --- writes ----------------------------------------------------------------
    def append(self, data, *, schema_mode: str | None = None) -> None:
        """Append rows as new immutable parts, in one commit. Columns are matched by name and
        converted where no value can change (docs/import.md); anything lossy is a SchemaError.
        ``schema_mode="add_columns"`` adds the data's extra columns (nullable, NULL in the
        earlier rows) instead of refusing them."""
        if schema_mode not in (None, "strict", "add_columns"):
            raise ValueError(f"schema_mode must be None, 'strict' or 'add_columns', got {schema_mode!r}")
        if self._row is not None and self._row.pending:
            self._row.flush()
        stream, _ = to_arrow_stream(data, what=f"table {self._path!r}", target=self.schema)
        self._native.append(stream.__arrow_c_stream__(), add_columns=schema_mode == "add_columns")

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


def _options(options: dict | None, kwargs: dict) -> dict:
    opts = dict(options or {})
    for k in list(kwargs):
        if k in _OPTION_KEYS:
            opts[k] = kwargs.pop(k)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments: {sorted(kwargs)}")
    return opts


class Bundle:
    """A bundle opened with :func:`octavo.open`."""

    def __init__(self, native, mode: str):
        self._native = native
        self._mode = mode
        self._closed = False

    # --- lifecycle ----------------------------------------------------------
    @property
    def path(self) -> str:
        return self._native.path

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def writable(self) -> bool:
        return self._native.writable

    @property
    def commit(self) -> dict:
        """The commit this handle sees: id, parent, created_at, message, manifest_file."""
        return self._native.commit_info()

    def commits(self) -> list[dict]:
        """Every commit up to this handle's, oldest first (those gc --keep-last dropped are
        gone). A commit whose manifest is damaged raises CorruptionError naming the file:
        the history is never returned with a commit silently missing."""
        return self._native.list_commits()

    def create_snapshot(self, name: str, message: str = "", *, commit: int | None = None,
                        overwrite: bool = False) -> dict:
        """Name a commit (default: the newest) so it can be opened later with
        ``octavo.open(path, snapshot=name)``. Creates no commit."""
        check_text(name, "snapshot name")
        check_text(message, "snapshot message")
        return self._native.create_snapshot(name, message, -1 if commit is None else int(commit), overwrite)

    def snapshots(self) -> list[dict]:
        """Named snapshots: name, commit, created_at, message (sorted by name)."""
        return self._native.list_snapshots()

    def delete_snapshot(self, name: str) -> None:
        check_text(name, "snapshot name")
        self._native.delete_snapshot(name)

    def collect_garbage(self, keep_last: int | None = None, *, dry_run: bool = False) -> dict:
        """Delete data files no kept commit references; returns what was (or would be) removed.

        By default all history is kept, so only files no commit ever referenced (failed or
        aborted writes) go. ``keep_last=N`` also drops commits older than the newest N, except
        those named by snapshots: they can no longer be opened, and their files are freed.
        """
        return self._native.collect_garbage(-1 if keep_last is None else int(keep_last), dry_run)

    gc = collect_garbage

    def refresh(self) -> None:
        """Read-only handles: move to the newest commit."""
        self._native.refresh()

    def close(self) -> None:
        if not self._closed:
            self._native.close()
            self._closed = True

    def __enter__(self) -> "Bundle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- hierarchy ----------------------------------------------------------
    @property
    def root(self) -> Group:
        return Group(self, "/")

    def _wrap(self, path: str, kind: str) -> Node:
        if kind == "group":
            return Group(self, path)
        if kind == "table":
            return Table(self, path)
        if kind == "link":
            return SoftLink(self, path)
        if kind == "array":
            from .array import Array
            return Array(self, path)
        if kind == "file":
            from .files import FileNode
            return FileNode(self, path)
        return Node(self, path)

    def __getitem__(self, path: str) -> Node:
        """The node at ``path``; soft links on the way (and at the end) are followed."""
        resolved = self._native.resolve_path(_abs(path) if path else "/")
        node = self._native.get_node(resolved)
        return self._wrap(node["path"], node["kind"])

    def get_link(self, path: str) -> SoftLink:
        """The link node itself, not what it points to."""
        node = self._native.get_node(_abs(path))
        if node["kind"] != "link":
            raise SchemaError(f"{node['path']!r} is a {node['kind']}, not a link")
        return SoftLink(self, node["path"])

    def get_node(self, where: str, name: str | None = None) -> Node:
        return self[_join(where, name)]

    def __contains__(self, path: str) -> bool:
        return self._native.exists(_abs(path))

    def __iter__(self) -> Iterator[Node]:
        return iter(self.root)

    def walk_nodes(self, where: str = "/", kind: str | None = None) -> Iterator[Node]:
        for n in self._native.walk(_abs(where)):
            if kind is None or n["kind"] == kind or (kind == "Leaf" and n["kind"] != "group"):
                yield self._wrap(n["path"], n["kind"])

    def walk_groups(self, where: str = "/") -> Iterator[Group]:
        return self.walk_nodes(where, "group")

    def create_group(self, where: str, name: str | None = None, title: str | None = None,
                     create_parents: bool = True) -> Group:
        path = _join(_abs(where), name)
        attrs_json = attrs_to_json({"TITLE": title}, path) if title else ""
        self._native.create_group(check_text(path, "group path"), create_parents, attrs_json)  # one commit
        return Group(self, self._native.get_node(path)["path"])

    def create_table(self, where: str, name: str | None = None, data=None, *, schema: pa.Schema | None = None,
                     title: str | None = None, create_parents: bool = True, options: dict | None = None,
                     overwrite: bool = False, **kwargs) -> Table:
        """Create a table from data (pandas, polars, pyarrow, dict of arrays) or from a schema.

        PyTables' ``create_table(where, name, description, title)`` order works too: a
        pyarrow Schema as ``data`` is taken as the description. The table, its title and
        (with ``overwrite``) the removal of a node already at the path are one commit.
        """
        opts = _options(options, kwargs)
        if name is not None and not isinstance(name, str):  # create_table(path, data)
            if data is not None:
                raise TypeError("create_table(where, name, data): name must be a string")
            name, data = None, name
        path = _join(_abs(where), name)
        if isinstance(data, pa.Schema):
            schema, data = data, None
        attrs_json = ""
        if title:
            attrs_json = to_json({"TITLE": title}, f"title of table {path!r}")
        if data is None:
            if schema is None:
                raise InvalidArgumentError(f"create_table({path!r}) needs data or a schema")
            for n in schema.names:
                check_text(n, f"table {path!r}: column name")
            native = self._native.create_table_from_schema(path, schema.__arrow_c_schema__(), opts, create_parents,
                                                           overwrite, attrs_json)
        else:
            stream, _ = to_arrow_stream(data, what=f"table {path!r}")
            native = self._native.create_table_from_stream(path, stream.__arrow_c_stream__(), opts, create_parents,
                                                           overwrite, attrs_json)
        return Table(self, native.path, native)

    def remove_node(self, where: str, name: str | None = None, recursive: bool = False) -> None:
        self._native.remove_node(_join(_abs(where), name), recursive)

    def rename_node(self, where: str, newname: str, name: str | None = None) -> None:
        """Rename a node in place (PyTables ``rename_node``)."""
        src = _join(_abs(where), name)
        parent = src.rsplit("/", 1)[0] or "/"
        self._native.move_node(src, _join(parent, newname), False)

    def move_node(self, where: str, newparent: str | None = None, newname: str | None = None,
                  name: str | None = None, createparents: bool = True) -> None:
        """Move a node (and its subtree); data files stay where they are."""
        src = _join(_abs(where), name)
        parent = _abs(newparent) if newparent else (src.rsplit("/", 1)[0] or "/")
        self._native.move_node(src, _join(parent, newname or src.rsplit("/", 1)[1]), createparents)

    def copy_node(self, where: str, newparent: str | None = None, newname: str | None = None,
                  name: str | None = None, createparents: bool = True) -> Node:
        """Copy a node recursively. Metadata only: tables share the source's data files."""
        src = _join(_abs(where), name)
        parent = _abs(newparent) if newparent else (src.rsplit("/", 1)[0] or "/")
        dst = _join(parent, newname or src.rsplit("/", 1)[1])
        self._native.copy_node(src, dst, createparents)
        return self[dst]

    def create_soft_link(self, where: str, name: str | None = None, target: str | None = None,
                         createparents: bool = True) -> SoftLink:
        """``create_soft_link(path, target)`` or PyTables' ``(where, name, target)``."""
        if target is None:
            path, target = _abs(where), name
        else:
            path = _join(_abs(where), name)
        if target is None:
            raise InvalidArgumentError("create_soft_link needs a target path")
        if isinstance(target, Node):
            target = target.path
        self._native.create_soft_link(path, _abs(target), createparents)
        return SoftLink(self, self._native.get_node(path)["path"])

    def transaction(self, message: str = ""):
        """Group several changes into one atomic commit::

            with bundle.transaction("reorganise"):
                bundle.move_node("/a", "/b")
                bundle.remove_node("/c", recursive=True)

        An exception inside the block aborts it: nothing is committed.
        """
        return _Transaction(self, message)

    def create_array(self, path: str, data=None, *, shape=None, dtype=None, chunks=None, compressor: str = "zstd",
                     level: int | None = None, shuffle=False, fill_value=None, attrs: dict | None = None,
                     create_parents: bool = True, blocksize: int = 0):
        """Create an n-d array (Zarr v3 chunks), filled from ``data`` if given, in one commit.

        dtype: bool, (u)int8..64, float16/32/64, complex64/128, S<n>, U<n>. compressor: zstd
        (default), lz4, gzip, zlib, none, blosc[:blosclz|lz4|lz4hc|zlib|zstd]; ``level`` its
        level; ``shuffle`` True (byte shuffle) or 'bitshuffle' (blosc); ``blocksize`` blosc's.
        chunks=None picks ~1 MiB chunks.
        """
        from .array import create_array
        return create_array(self, _abs(path), data, shape=shape, dtype=dtype, chunks=chunks, compressor=compressor,
                            level=level, shuffle=shuffle, fill_value=fill_value, attrs=attrs,
                            create_parents=create_parents, blocksize=blocksize)

    # --- file nodes -----------------------------------------------------------
    def create_file(self, path: str, *, overwrite: bool = False, create_parents: bool = True):
        """A writable binary file object; closing it commits the file node (streaming, any size).

        ``with bundle.create_file("/images/cat.png") as f: f.write(data)``; an exception in
        the block stores nothing. Content is stored once per distinct bytes (BLAKE2b-256).
        """
        from .files import create_writer
        return create_writer(self._native, _abs(path), overwrite, create_parents)

    def open_file(self, path: str, mode: str = "rb", encoding: str | None = None):
        """A readable, seekable file object ('rb', or 'r' for text) at this bundle's commit;
        mode 'ab' a writer that appends to the file node (committed when closed)."""
        from .files import open_node_file
        return open_node_file(self._native, _abs(path), mode, encoding)

    def put_file(self, local: str | os.PathLike, path: str, *, overwrite: bool = False,
                 create_parents: bool = True) -> dict:
        """Copy a local file into a file node (streamed in C++); returns its size and digest."""
        return _octavo.put_file(self._native, check_fspath(local, "local file"), _abs(path), overwrite, create_parents)

    def get_file(self, path: str, local: str | os.PathLike) -> None:
        """Copy a file node to a local file, checking the digest; written atomically."""
        _octavo.get_file(self._native, _abs(path), check_fspath(local, "local file"))

    def file_info(self, path: str) -> dict:
        """size, digest, blob (content file), created_at, modified_at."""
        return _octavo.file_info(self._native, _abs(path))

    def import_zarr(self, source, path: str, **kwargs):
        """Copy a zarr-python array or group (or a Zarr path) to ``path``, in one commit."""
        from .array import import_zarr
        return import_zarr(self, source, _abs(path), **kwargs)

    def import_sqlite(self, paths, path: str = "/", table: str | None = None, query: str | None = None,
                      append: bool = False, since: str | None = None, *, keep_text_timestamps: bool = False,
                      batch_rows: int | None = None) -> dict:
        """Import SQLite databases (C++, libsqlite3; read-only, the sources are never modified),
        the same as ``octavo import a.db b.db BUNDLE:/path``.

        ``table``: one table; ``query``: a read-only SELECT's result (both into the table at
        ``path``); neither: every table, one bundle table each under the group ``path``. Rows
        of several databases go into one table in the order given; everything is one commit,
        and nothing is committed on any error. ``append`` adds to existing tables; ``since``
        (a column) adds only rows whose value there exceeds the table's current maximum.
        Type rules: docs/import.md. Returns {"files", "tables": [{"source", "path", "rows",
        "skipped", "created"}], "rows", "commit", "notes"}."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        files = [check_fspath(p, "SQLite database") for p in paths]
        return _octavo.sqlite_import(
            self._native, files, _abs(path),
            table=check_text(table, "table name") if table is not None else "",
            query=check_text(query, "query") if query is not None else "",
            append=bool(append), since=check_text(since, "since column") if since is not None else "",
            keep_text_timestamps=bool(keep_text_timestamps), batch_rows=int(batch_rows or 0))

    def table(self, name: str) -> Table:
        return Table(self, _abs(name))

    def scan(self, name: str):
        """A polars LazyFrame over table ``name`` (see Table.lazy)."""
        return self.table(name).lazy()

    # --- DataFolio-style API --------------------------------------------------
    def add_table(self, name: str, data, *, overwrite: bool = False, options: dict | None = None,
                  **kwargs) -> Table:
        """Store a DataFrame (pandas/polars), pyarrow Table or dict of arrays as table ``name``."""
        return self.create_table(_abs(name), data=data, options=options, overwrite=overwrite, **kwargs)

    def append_table(self, name: str, data, *, schema_mode: str | None = None) -> None:
        """Append rows to ``name`` (created if it does not exist yet); see Table.append."""
        path = _abs(name)
        if not self._native.exists(path):
            self.create_table(path, data=data)
            return
        self.table(path).append(data, schema_mode=schema_mode)

    def get_table(self, name: str, return_type: str | None = None, columns: list[str] | None = None,
                  offset: int | None = None, limit: int | None = None, where: str | None = None,
                  condvars: dict | None = None):
        """Read a table; ``columns`` a projection, ``offset`` the first row. Without ``where``,
        ``limit`` rows from ``offset``; with ``where`` (a condition, docs/queries.md), the first
        ``limit`` rows from ``offset`` on where it holds (the scan stops once they are found,
        except for pandas tables with a RangeIndex, whose row labels need the full where list)."""
        start = int(offset or 0)
        if where is not None:
            if limit is None:
                return self.table(name).read_where(where, columns, start, None, condvars, return_type)
            from . import query
            return query.read_where_first(self.table(name), where, int(limit), columns, start, condvars, return_type)
        stop = None if limit is None else start + int(limit)
        return self.table(name).read(start, stop, columns=columns, return_type=return_type)

    def iter_table(self, name: str, chunk_size: int = 10_000, columns: list[str] | None = None,
                   return_type: str | None = None, where: str | None = None, condvars: dict | None = None):
        if where is not None:
            return iter(self.table(name).where(where, columns, condvars=condvars, chunk_size=chunk_size,
                                               return_type=return_type))
        return self.table(name).iter_batches(chunk_size, columns, return_type)

    # --- SQL (DuckDB) ---------------------------------------------------------------
    def sql(self, query: str, return_type: str | None = None, stream: bool = False):
        """Run SQL over the bundle's tables at this handle's commit, through DuckDB.

        Root-level tables are visible by bare name, every table by its quoted path
        (``"/data/readout"``). DuckDB reads the Parquet parts directly, pushing projections
        and filters into them. ``return_type``: 'pandas' (default), 'polars', 'arrow';
        ``stream=True`` returns a pyarrow RecordBatchReader.
        """
        from . import query as _q
        return _q.sql(self, query, return_type, stream)

    def sort_by(self, name: str, columns, **kwargs) -> None:
        """Rewrite table ``name`` sorted by ``columns`` (see Table.sort_by)."""
        self.table(name).sort_by(columns, **kwargs)

    def query_table(self, name: str, query: str, return_type: str | None = None, stream: bool = False):
        """SQL over one table, called ``table`` in the query: ``SELECT avg(x) FROM table``."""
        from . import query as _q
        return _q.query_table(self, name, query, return_type, stream)

    def preview_table(self, name: str, n: int = 10, return_type: str | None = None):
        return self.table(name).head(n, return_type=return_type)

    def table_info(self, name: str) -> dict:
        """Rows, columns, size, names, dtypes and schema, from the manifest alone."""
        i = self.table(name).info()
        return {
            "rows": i["num_rows"],
            "columns": i["num_columns"],
            "size_mb": i["size_bytes"] / 1e6,
            "column_names": i["column_names"],
            "dtypes": dict(zip(i["column_names"], i["column_types"])),
            "parquet_schema": i["schema"],
            "created_at": i["created_at"],
            "modified_at": i["modified_at"],
            "num_parts": i["num_parts"],
            "size_bytes": i["size_bytes"],
            "path": i["path"],
        }

    def get_table_path(self, name: str) -> list[str]:
        """Absolute paths of the table's current Parquet parts (a list: a table may have several).

        DuckDB ``read_parquet(paths)``, ``polars.scan_parquet(paths)`` and
        ``pyarrow.dataset.dataset(paths)`` all take the list as it is.
        """
        return self.table(name).part_paths

    def get_all_table_paths(self) -> dict[str, list[str]]:
        out = {}
        for n in self._native.walk("/"):
            if n["kind"] == "table":
                p = n["path"]
                key = p[1:] if p.count("/") == 1 else p
                out[key] = self.table(p).part_paths
        return out

    def list_tables(self) -> list[str]:
        return [n["path"] for n in self._native.walk("/") if n["kind"] == "table"]

    # --- display ----------------------------------------------------------------
    def _summary_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for n in self._native.walk("/"):
            if n["kind"] == "table":
                i = self._native.open_table(n["path"]).info()
                rows.append((n["path"], "table", f"{i['num_rows']:,} rows × {i['num_columns']} cols, "
                             f"{i['size_bytes'] / 1e6:.1f} MB"))
            else:
                rows.append((n["path"], n["kind"], ""))
        return rows

    def __repr__(self) -> str:
        c = self.commit
        lines = [f"<octavo.Bundle {self.path!r} mode={self._mode!r} commit={c['id']}>"]
        for path, kind, desc in self._summary_rows()[:50]:
            lines.append(f"  {path} ({kind}) {desc}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        c = self.commit
        rows = "".join(
            f"<tr><td><code>{html.escape(p)}</code></td><td>{k}</td><td>{html.escape(d)}</td></tr>"
            for p, k, d in self._summary_rows()[:200]
        )
        return (f"<div><b>octavo bundle</b> <code>{html.escape(self.path)}</code> — commit {c['id']} "
                f"({html.escape(c['created_at'])})<table><tr><th>node</th><th>kind</th><th>summary</th></tr>"
                f"{rows}</table></div>")


class _Transaction:
    def __init__(self, bundle: Bundle, message: str):
        self._bundle = bundle
        self._message = message

    def __enter__(self) -> Bundle:
        check_text(self._message, "commit message")
        self._bundle._native.begin_transaction()
        return self._bundle

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._bundle._native.commit_transaction(self._message)
        else:
            self._bundle._native.abort_transaction()
