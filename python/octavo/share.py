"""Shared tables: publish a table once, attach it from any process on the host without copying.

    shared = octavo.share(bundle["/headers"], columns=["cdp", "offset"])   # or a DataFrame / pa.Table / dict
    with ProcessPoolExecutor(initializer=init, initargs=(shared.handle,)) as pool: ...
    # in a worker (fork, spawn, forkserver or any process on the same host):
    view = octavo.attach(handle)
    view.column("offset").to_numpy()     # a read-only numpy view of the shared memory

The data is written once as an Arrow IPC file in /dev/shm (docs/format.md, "Shared table
segments"); attaching memory-maps it, so N workers cost about one copy of the data in total.
The segment is removed when the publisher closes the SharedTable or exits; segments of killed
publishers are collected by the next publish and by ``octavo share --gc``.
"""
from __future__ import annotations

import json
import os
import weakref

import pyarrow as pa

from . import _octavo
from .convert import LIBRARY_KEY, columns_arg, to_arrow_stream
from .errors import InvalidArgumentError, check_fspath, translate_stream_error

DEFAULT_DIRECTORY = "/dev/shm"


def _source_table(source, columns, where, condvars):
    """(pa.Table, provenance dict) for a bundle table or in-memory data."""
    from .bundle import Table

    if isinstance(source, Table):
        if where is not None:
            table = source.read_where(where, columns=columns, condvars=condvars, return_type="arrow")
        else:
            table = source.read(columns=columns, return_type="arrow")
        bundle = source._bundle
        return table, {"bundle": bundle.path, "table": source.path, "commit": int(bundle.commit["id"])}
    if where is not None:
        raise InvalidArgumentError("where= needs a bundle table as the source (bundle['/t']); filter the data first")
    stream, _ = to_arrow_stream(source, what="shared table")
    table = stream if isinstance(stream, pa.Table) else pa.table(stream)
    if columns is not None:
        table = table.select(columns_arg(columns))
    return table, {"bundle": "", "table": "", "commit": -1}


def share(source, columns=None, where=None, *, condvars=None, directory: str | os.PathLike = DEFAULT_DIRECTORY
          ) -> SharedTable:
    """Publish ``source`` as a shared table and return its :class:`SharedTable`.

    ``source``: a bundle table (``bundle["/headers"]``, read at the bundle's commit, with
    ``columns`` and the condition ``where`` pushed down), a pyarrow Table, a polars or pandas
    DataFrame, or a dict of numpy arrays. ``directory``: /dev/shm (memory), or a node-local disk.
    """
    table, provenance = _source_table(source, columns, where, condvars)
    directory = check_fspath(directory, "shared table directory")
    segment = _octavo.share_publish(table.__arrow_c_stream__(), os.path.abspath(directory), provenance["bundle"],
                                    provenance["table"], provenance["commit"])
    del table
    # The read and the one-batch copy made for the segment are freed now: hand the pages back to
    # the OS instead of keeping them in Arrow's allocator (the publisher would hold a second copy).
    pa.default_memory_pool().release_unused()
    return SharedTable(segment)


class SharedTable:
    """A published segment. ``handle`` (a short str, picklable) attaches it anywhere on the host;
    pickling the SharedTable itself gives the receiver an attached :class:`AttachedTable`."""

    def __init__(self, segment):
        self._segment = segment
        self.handle: str = segment.handle
        # Removes the segment when this object is collected or the interpreter exits (in the
        # publishing process only: the C++ side ignores a forked child's close).
        self._finalizer = weakref.finalize(self, segment.close)

    @property
    def path(self) -> str:
        return self._segment.path

    @property
    def size_bytes(self) -> int:
        return self._segment.size_bytes

    @property
    def num_rows(self) -> int:
        return self._segment.num_rows

    @property
    def source(self) -> dict:
        """{"bundle", "table", "commit"} the data came from (empty / -1 for in-memory data)."""
        return dict(json.loads(self.handle)["source"])

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Remove the segment (workers already attached keep their mapping)."""
        self._finalizer()

    def attach(self, *, verify: bool = False, populate: bool = False) -> AttachedTable:
        return attach(self.handle, verify=verify, populate=populate)

    def is_current(self) -> bool:
        """Whether the source table still holds what was shared: False once a later commit changed
        it (or removed it). Always True for in-memory sources."""
        src = self.source
        if not src["bundle"]:
            return True
        from .bundle import open as open_bundle
        from .errors import NotFoundError
        from .table import Table

        with open_bundle(src["bundle"], "r") as now:
            if int(now.commit["id"]) == src["commit"]:
                return True
            try:
                node = now[src["table"]]
            except NotFoundError:
                return False
            if not isinstance(node, Table):
                return False  # replaced by another kind of node
            cur = node.info()
        with open_bundle(src["bundle"], "r", commit=src["commit"]) as then:
            old_node = then[src["table"]]
            assert isinstance(old_node, Table)
            old = old_node.info()
        # Parts are immutable: the same parts and schema are the same rows.
        return cur["part_files"] == old["part_files"] and cur["schema"] == old["schema"]

    def __enter__(self) -> SharedTable:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __reduce__(self):
        return (attach, (self.handle,))

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.num_rows} rows, {self.size_bytes} bytes"
        return f"<octavo.SharedTable {self.path!r} {state}>"


class SharedColumn:
    """One column of an attached table."""

    def __init__(self, array: pa.ChunkedArray):
        self._array = array

    def to_arrow(self) -> pa.ChunkedArray:
        return self._array

    def to_numpy(self):
        """A read-only numpy view of the shared memory for numeric columns without nulls;
        other columns (nulls, strings, nested) are converted (a copy)."""
        return _column_numpy(self._array)

    def __len__(self) -> int:
        return len(self._array)


_NUMPY_TYPES = {str(t): t for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")}
_NUMPY_TYPES.update({"halffloat": "float16", "float": "float32", "double": "float64"})


def _column_numpy(col: pa.ChunkedArray):
    if col.num_chunks == 1:
        chunk = col.chunk(0)
        np_type = _NUMPY_TYPES.get(str(chunk.type))
        if np_type is not None and chunk.null_count == 0:
            # Straight from the buffer: pyarrow's to_numpy() would import pandas (half a second
            # in a fresh worker). Read-only, and it keeps the mapping alive.
            import numpy as np

            dtype = np.dtype(np_type)
            return np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize)
        try:
            return chunk.to_numpy(zero_copy_only=True)
        except pa.ArrowInvalid:
            return chunk.to_numpy(zero_copy_only=False)
    return col.to_numpy()


def _zero_copy(col: pa.ChunkedArray) -> bool:
    t = col.type
    return (col.num_chunks == 1 and col.null_count == 0
            and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t)))


class AttachedTable:
    """A shared table mapped into this process; conversions share memory with the segment."""

    def __init__(self, table: pa.Table, handle: str):
        self._table = table
        self.handle = handle

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    @property
    def column_names(self) -> list[str]:
        return self._table.column_names

    @property
    def source(self) -> dict:
        return dict(json.loads(self.handle)["source"])

    def to_arrow(self) -> pa.Table:
        meta = dict(self._table.schema.metadata or {})
        meta.pop(LIBRARY_KEY, None)
        return self._table.replace_schema_metadata(meta or None)

    def to_polars(self):
        import polars as pl

        table = self.to_arrow()
        meta = dict(table.schema.metadata or {})
        meta.pop(b"pandas", None)
        return pl.from_arrow(table.replace_schema_metadata(meta or None), rechunk=False)

    def to_pandas(self):
        """Numeric columns without nulls are numpy views of the shared memory; strings and columns
        with nulls are Arrow-backed (pd.ArrowDtype), also without copying."""
        import pandas as pd

        table = self.to_arrow()
        meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
        index = meta.get("index_columns") or []
        if any(not isinstance(i, dict) for i in index) or len(meta.get("column_indexes") or []) > 1:
            from .convert import to_pandas
            return to_pandas(table)  # a stored index or MultiIndex columns: pandas' own conversion
        data = {}
        for name, col in zip(table.column_names, table.columns, strict=True):
            data[name] = (_column_numpy(col) if _zero_copy(col)
                          else pd.arrays.ArrowExtensionArray(col))
        df = pd.DataFrame(data, copy=False)
        if len(index) == 1 and index[0].get("kind") == "range":
            r = index[0]
            step = r.get("step", 1) or 1
            df.index = pd.RangeIndex(r.get("start", 0), r.get("start", 0) + len(df) * step, step, name=r.get("name"))
        return df

    def column(self, name: str) -> SharedColumn:
        return SharedColumn(self._table.column(name))

    def arrays(self, columns=None) -> dict:
        """{name: numpy array}, views of the shared memory where the column allows it."""
        names = self._table.column_names if columns is None else columns_arg(columns)
        return {n: _column_numpy(self._table.column(n)) for n in names}

    def __len__(self) -> int:
        return self._table.num_rows

    def __reduce__(self):
        return (attach, (self.handle,))

    def __repr__(self) -> str:
        return f"<octavo.AttachedTable {self._table.num_rows} rows {self._table.column_names}>"


def attach(handle, *, verify: bool = False, populate: bool = False) -> AttachedTable:
    """Map the shared table named by ``handle`` (``SharedTable.handle``; a SharedTable or an
    AttachedTable are accepted too). ``verify=True`` also checks a CRC of every byte;
    ``populate=True`` maps every page now rather than on first touch (a slower attach, then
    computations as fast as on a private copy)."""
    if isinstance(handle, (SharedTable, AttachedTable)):
        handle = handle.handle
    if not isinstance(handle, str):
        raise InvalidArgumentError(f"attach() takes a shared table handle (str), got {type(handle).__name__}")
    stream = _octavo.share_attach(handle, bool(verify), bool(populate))
    try:
        table = pa.RecordBatchReader.from_stream(stream).read_all()
    except pa.ArrowException as e:
        raise translate_stream_error(e) from e
    return AttachedTable(table, handle)


def collect_stale(directory: str | os.PathLike = DEFAULT_DIRECTORY) -> list[str]:
    """Remove the segments in ``directory`` whose publisher has died; returns their paths."""
    return list(_octavo.share_collect(os.path.abspath(check_fspath(directory, "shared table directory"))))


def list_segments(directory: str | os.PathLike = DEFAULT_DIRECTORY) -> list[dict]:
    return list(_octavo.share_list(os.path.abspath(check_fspath(directory, "shared table directory"))))
