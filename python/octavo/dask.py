"""Dask dataframes over octavo tables: one partition per part, each task reading through octavo.

``read_table(bundle_path, "/t", columns=None, where=None, commit=None)`` plans on the
commit's part list (row counts from the Parquet footers, no data read) and returns a lazy
``dask.dataframe.DataFrame``. Each task opens the bundle read-only at that same commit and reads
its part's rows, so a ``where`` condition is evaluated (with its pushdown) in the worker, and
later commits never change what the dataframe holds.
"""
from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from .bundle import open as _open
from .convert import Columns, columns_arg


def _read_part(spec: tuple) -> Any:
    bundle_path, name, commit, start, stop, cols, where = spec
    with _open(bundle_path, "r", commit=commit) as b:
        t = b.table(name)
        if where is None:
            df = t.read(start, stop, columns=cols, return_type="pandas")
        else:
            df = t.read_where(where, columns=cols, start=start, stop=stop, return_type="pandas")
    return df.reset_index(drop=True)


def read_table(bundle_path: str, name: str, columns: Columns = None, where: str | None = None,
               commit: int | None = None) -> Any:
    """A dask DataFrame of table ``name`` as of ``commit`` (default: the newest), one
    partition per Parquet part; ``columns`` and ``where`` are applied by each task."""
    import dask.dataframe as dd

    cols = columns_arg(columns) or None  # checked here, in the caller, not in every task
    with _open(bundle_path, "r", commit=commit) as b:
        commit_id = int(b.commit["id"])
        t = b.table(name)
        files = t.part_paths
        meta = t.read(0, 0, columns=cols, return_type="pandas").reset_index(drop=True)
    specs = []
    row = 0
    for f in files:
        n = pq.ParquetFile(f).metadata.num_rows
        specs.append((bundle_path, name, commit_id, row, row + n, cols, where))
        row += n
    if not specs:  # an empty table: one empty partition
        specs.append((bundle_path, name, commit_id, 0, 0, cols, where))
    return dd.from_map(_read_part, specs, meta=meta, enforce_metadata=False)
