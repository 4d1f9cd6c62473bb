"""DataFrame files for DeepLabCut-style code: Parquet first, HDF5 (pandas HDFStore) read
in C++ only to migrate away from it.

    df = read_dataframe("CollectedData_me.h5")   # uses CollectedData_me.parquet if present,
                                                 # else reads the .h5 in C++ and writes the .parquet
    write_dataframe(df, "CollectedData_me.h5")   # writes CollectedData_me.parquet
    migrate_h5_to_parquet("project/")            # every .h5 below project/

The Parquet files are plain pandas/pyarrow Parquet: ``pandas.read_parquet(path)`` returns
the same DataFrame ``pandas.read_hdf`` returned for the original file (values, dtypes,
index, MultiIndex rows and columns with level names).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from . import _octavo

H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def _is_h5(path: Path) -> bool:
    return path.suffix.lower() in H5_SUFFIXES


def get_dataframe_path(path) -> Path:
    """The file a DataFrame for `path` lives in: `x.h5` -> `x.parquet` when that exists,
    otherwise the path itself."""
    p = Path(path)
    if _is_h5(p):
        pq_path = p.with_suffix(".parquet")
        if pq_path.exists():
            return pq_path
    return p


def read_h5_arrow(path, key: str | None = None) -> pa.Table:
    """Read one pandas HDFStore object with octavo's C++ HDF5 reader (never PyTables)."""
    return pa.table(_octavo.h5_read_pandas(os.fspath(path), key or ""))


def list_h5(path) -> list[dict]:
    """Objects in an HDF5 file: pandas objects (supported or not) and every other dataset."""
    return _octavo.h5_list(os.fspath(path))


def _arrow_to_pandas(table: pa.Table):
    df = table.to_pandas()
    src = (table.schema.metadata or {}).get(b"octavo.h5")
    if src:
        info = json.loads(src)
        if info.get("is_series") and df.shape[1] == 1:
            s = df.iloc[:, 0]
            s.name = info.get("series_name")
            return s
    return df


def _strip_source(table: pa.Table) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta.pop(b"octavo.h5", None)
    return table.replace_schema_metadata(meta)


def read_dataframe(path, key: str | None = None, *, write_parquet: bool = True):
    """Read a DataFrame. For an HDF5 path the sibling `.parquet` wins when present; otherwise
    the HDF5 file is read in C++ and (if `write_parquet`) the `.parquet` written beside it."""
    p = Path(path)
    target = get_dataframe_path(p)
    if target.suffix.lower() == ".parquet":
        return pq.read_table(target).to_pandas()
    if _is_h5(p):
        table = read_h5_arrow(p, key)
        if write_parquet:
            _write_table_atomic(_strip_source(table), p.with_suffix(".parquet"))
        return _arrow_to_pandas(table)
    raise ValueError(f"unsupported file type: {p}")


def _write_table_atomic(table: pa.Table, out: Path) -> None:
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, out)


def write_dataframe(df, path, format: str = "parquet") -> Path:
    """Write a DataFrame. A `.h5` path writes the sibling `.parquet` (HDF5 is never written)."""
    import pandas as pd

    if format != "parquet":
        raise ValueError("only format='parquet' is supported")
    p = Path(path)
    out = p.with_suffix(".parquet") if (_is_h5(p) or p.suffix == "") else p
    if isinstance(df, pd.Series):
        df = df.to_frame()
    _write_table_atomic(pa.Table.from_pandas(df), out)
    return out


def migrate_h5_to_parquet(root, recursive: bool = True, remove_h5: bool = False,
                          overwrite: bool = False) -> dict:
    """Convert every pandas HDF5 file under `root` (or `root` itself) to a sibling `.parquet`.

    Returns {"converted": [...], "skipped": [...], "failed": {path: message}}. Files with
    several pandas objects, or with objects octavo cannot read, are reported as failed and
    kept; `remove_h5` deletes an HDF5 file only after its Parquet file was written and
    read back."""
    root = Path(root)
    files: Iterable[Path]
    if root.is_file():
        files = [root]
    else:
        pattern = "**/*" if recursive else "*"
        files = sorted(f for f in root.glob(pattern) if f.is_file() and _is_h5(f))
    report = {"converted": [], "skipped": [], "failed": {}}
    for f in files:
        out = f.with_suffix(".parquet")
        if out.exists() and not overwrite:
            report["skipped"].append(str(f))
            continue
        try:
            objs = list_h5(f)
            bad = [o for o in objs if not o["supported"]]
            if bad:
                raise ValueError("unsupported objects: " + ", ".join(f"{o['key']} ({o['note']})" for o in bad))
            table = read_h5_arrow(f)
            _write_table_atomic(_strip_source(table), out)
            back = pq.read_table(out)
            if back.num_rows != table.num_rows:
                raise OSError(f"{out}: read-back row count differs")
            report["converted"].append(str(f))
            if remove_h5:
                f.unlink()
        except Exception as e:  # noqa: BLE001 - reported, never silent
            report["failed"][str(f)] = f"{type(e).__name__}: {e}"
    return report
