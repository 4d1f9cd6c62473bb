"""Thin Parquet helpers (pyarrow / polars underneath)."""
from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .enums import ReturnType, name_arg

RETURN_TYPES = tuple(t.value for t in ReturnType)


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None, return_type: str | ReturnType = "pandas") -> Any:
    """Read a Parquet file (or directory) as pandas (default), polars or a pyarrow Table."""
    return_type = name_arg(return_type, ReturnType, "return_type", check=True)
    table = pq.read_table(os.fspath(path), columns=columns)
    if return_type == "arrow":
        return table
    if return_type == "polars":
        import polars as pl

        meta = dict(table.schema.metadata or {})
        meta.pop(b"pandas", None)
        return pl.from_arrow(table.replace_schema_metadata(meta))
    return table.to_pandas()


def read_parquet_lazy(path: str | os.PathLike[str], columns: list[str] | None = None, engine: str = "polars") -> Any:
    """A polars LazyFrame (engine='polars') or a pyarrow RecordBatchReader (engine='arrow')."""
    if engine == "polars":
        import polars as pl

        lf = pl.scan_parquet(os.fspath(path))
        return lf.select(columns) if columns else lf
    if engine == "arrow":
        return pq.ParquetFile(os.fspath(path)).iter_batches(columns=columns)
    raise ValueError("engine must be 'polars' or 'arrow'")


def read_parquet_schema(path: str | os.PathLike[str]) -> pa.Schema:
    return pq.read_schema(os.fspath(path))


def write_parquet(data: Any, path: str | os.PathLike[str], compression: str = "zstd", **kwargs: Any) -> None:
    """Write pandas / polars / pyarrow data to one Parquet file (atomically)."""
    if isinstance(data, pa.Table):
        table = data
    elif type(data).__module__.startswith("polars"):
        table = data.collect().to_arrow() if type(data).__name__ == "LazyFrame" else data.to_arrow()
    else:
        import pandas as pd

        if isinstance(data, pd.Series):
            data = data.to_frame()
        table = pa.Table.from_pandas(data)
    write_table_atomic(table, path, compression=compression, **kwargs)


def write_table_atomic(table: pa.Table, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """``table`` as one Parquet file at ``path`` that appears whole or not at all: written to
    ``path.tmp``, then renamed. ``kwargs`` go to pyarrow.parquet.write_table."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    pq.write_table(table, tmp, **kwargs)
    os.replace(tmp, path)
