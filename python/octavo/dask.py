"""Dask dataframes over octavo tables, and the picklable read tasks behind them (for Ray,
multiprocessing or any other executor).

``read_table(bundle_path, "/t", columns=None, where=None, commit=None)`` plans on the
commit's part list (row counts from the Parquet footers, no data read) and returns a lazy
``dask.dataframe.DataFrame``, one partition per part (or per group of row groups with
``rows_per_partition``). Each task opens the bundle read-only at that same commit and reads
its rows through octavo, so a ``where`` condition is evaluated (with its pushdown) in the
worker, and later commits never change what the dataframe holds.

A table whose sort order octavo recorded (``Table.sort_by``) is indexed by its first sort
column, and when every row is in the sorted run the divisions are known (read from the
boundary rows of the partitions), so ``loc`` lookups and merges on that column touch only
the partitions that can hold the keys.

``read_tasks(...)`` returns the same plan as a list of :class:`ReadTask` objects: each is a
picklable zero-argument callable returning its rows, for ``ray.remote``/``ProcessPoolExecutor``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from .bundle import open as _open
from .convert import Columns, check_return_type, columns_arg
from .errors import InvalidArgumentError, SchemaError, check_fspath, check_int


@dataclass(frozen=True)
class ReadTask:
    """Rows [start, stop) of table ``name`` in the bundle at ``bundle_path`` as of ``commit``
    (``columns`` and ``where`` applied), as ``return_type``; call it to read them. For pandas,
    the index is 0..n-1, or column ``index`` when set."""

    bundle_path: str
    name: str
    commit: int
    start: int
    stop: int
    columns: tuple[str, ...] | None = None
    where: str | None = None
    index: str | None = None
    return_type: str = "pandas"

    def __call__(self) -> Any:
        cols = None if self.columns is None else list(self.columns)
        with _open(self.bundle_path, "r", commit=self.commit) as b:
            t = b.table(self.name)
            if self.where is None:
                out = t.read(self.start, self.stop, columns=cols, return_type=self.return_type)
            else:
                out = t.read_where(self.where, columns=cols, start=self.start, stop=self.stop,
                                   return_type=self.return_type)
        if self.return_type != "pandas":
            return out
        out = out.reset_index(drop=True)
        return out.set_index(self.index) if self.index is not None else out


def _run(task: ReadTask) -> Any:
    return task()


def _ranges(files: list[str], rows_per_partition: int | None) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of the partitions: one per part, or runs of whole row groups
    of one part holding at most ``rows_per_partition`` rows (at least one row group each)."""
    out = []
    row = 0
    for f in files:
        md = pq.ParquetFile(f).metadata
        if rows_per_partition is None:
            sizes = [md.num_rows]
        else:
            sizes = []
            for i in range(md.num_row_groups):
                n = md.row_group(i).num_rows
                if sizes and sizes[-1] + n <= rows_per_partition:
                    sizes[-1] += n
                else:
                    sizes.append(n)
        for n in sizes:
            if n:
                out.append((row, row + n))
            row += n
    return out


def _index_column(index: str | bool | None, info: dict) -> str | None:
    if index is None or index is True:
        return info["sorted_by"][0] if info["sorted_by"] else None
    if index is False:
        return None
    if not isinstance(index, str):
        raise InvalidArgumentError(f"index must be a column name, None (the sort column, if any) or False, "
                                   f"got {index!r}")
    if index not in info["column_names"]:
        raise SchemaError(f"table {info['path']} has no column {index!r} to index by; columns: "
                          f"{info['column_names']}")
    return index


def _divisions(table: Any, key: str, info: dict, ranges: list[tuple[int, int]]) -> tuple | None:
    """The divisions of partitions ``ranges`` indexed by ``key``, or None when they are not known:
    the table is not wholly sorted by ``key``, a key value spans two partitions, or it holds
    nulls or NaN (the sort puts them last)."""
    if not ranges or not info["sorted_by"] or info["sorted_by"][0] != key or info["sorted_rows"] != info["num_rows"]:
        return None
    import pandas as pd

    rows = sorted({r for s, e in ranges for r in (s, e - 1)})
    vals = table.read_coordinates(rows, columns=[key], return_type="pandas")[key].tolist()
    at = dict(zip(rows, vals, strict=True))
    if any(pd.isna(v) for v in vals):
        return None
    firsts = [at[s] for s, _ in ranges]
    lasts = [at[e - 1] for _, e in ranges]
    if any(not lasts[i] < firsts[i + 1] for i in range(len(ranges) - 1)):
        return None
    return (*firsts, lasts[-1])


def _plan(bundle_path: Any, name: str, columns: Columns, where: str | None, commit: int | None,
          index: str | bool | None, rows_per_partition: int | None, return_type: str,
          with_meta: bool) -> tuple[list[ReadTask], Any, tuple | None]:
    path = check_fspath(bundle_path, "bundle path")
    check_return_type(return_type)
    if rows_per_partition is not None and check_int(rows_per_partition, "rows_per_partition") <= 0:
        raise InvalidArgumentError(f"rows_per_partition must be positive, got {rows_per_partition}")
    cols = columns_arg(columns) or None  # checked here, in the caller, not in every task
    with _open(path, "r", commit=commit) as b:
        commit_id = int(b.commit["id"])
        t = b.table(name)
        info = t.info()
        key = _index_column(index, info) if return_type == "pandas" else None
        if cols is not None and key is not None and key not in cols:
            cols = [*cols, key]
        if where is not None:  # a bad condition fails here, in the caller, not in every task
            t.read_where(where, columns=cols, start=0, stop=0, return_type="arrow")
        ranges = _ranges(list(info["part_files"]), rows_per_partition)
        divisions = _divisions(t, key, info, ranges) if key is not None else None
        meta = None
        if with_meta:
            meta = t.read(0, 0, columns=cols, return_type="pandas").reset_index(drop=True)
            if key is not None:
                meta = meta.set_index(key)
        tpath = t.path
    if not ranges:  # an empty table: one empty partition
        ranges = [(0, 0)]
    tcols = None if cols is None else tuple(cols)
    tasks = [ReadTask(path, tpath, commit_id, s, e, tcols, where, key, return_type) for s, e in ranges]
    return tasks, meta, divisions


def read_tasks(bundle_path: Any, name: str, columns: Columns = None, where: str | None = None,
               commit: int | None = None, *, rows_per_partition: int | None = None,
               return_type: str = "arrow") -> list[ReadTask]:
    """The independent reads that together return table ``name`` as of ``commit`` (default: the
    newest) in row order: picklable callables for any process pool (``ray.remote(task)``,
    ``executor.submit(task)``). Same partitioning as :func:`read_table`."""
    return _plan(bundle_path, name, columns, where, commit, False, rows_per_partition, return_type, False)[0]


def read_table(bundle_path: Any, name: str, columns: Columns = None, where: str | None = None,
               commit: int | None = None, *, index: str | bool | None = None,
               rows_per_partition: int | None = None) -> Any:
    """A dask DataFrame of table ``name`` as of ``commit`` (default: the newest).

    One partition per Parquet part, or with ``rows_per_partition`` one per run of whole row
    groups holding at most that many rows; ``columns`` and ``where`` are applied by each task.
    ``index``: None (default) indexes by the table's recorded first sort column, if any, with
    known divisions when the whole table is in sorted order; a column name indexes by that
    column (divisions known only if it is that sort column); False keeps a plain 0..n-1 index
    per partition.
    """
    import dask.dataframe as dd

    tasks, meta, divisions = _plan(bundle_path, name, columns, where, commit, index, rows_per_partition,
                                   "pandas", True)
    return dd.from_map(_run, tasks, meta=meta, divisions=divisions, enforce_metadata=False,
                       label="octavo-read-table")
