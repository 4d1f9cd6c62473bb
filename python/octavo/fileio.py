"""DataFrame files for DeepLabCut-style code: Parquet first, HDF5 (pandas HDFStore) read
in C++ only to migrate away from it.

    df = read_dataframe("CollectedData_me.h5")   # uses CollectedData_me.parquet if present,
                                                 # else reads the .h5 in C++ and writes the .parquet
    write_dataframe(df, "CollectedData_me.h5")   # writes CollectedData_me.parquet
    migrate_h5_to_parquet("project/", jobs=2)    # every .h5 below project/, verified (C++)
    import_h5(bundle, "data.h5", "/data")        # a whole PyTables file into a bundle (C++)

The Parquet files are plain pandas/pyarrow Parquet: ``pandas.read_parquet(path)`` returns
the same DataFrame ``pandas.read_hdf`` returned for the original file (values, dtypes,
index, MultiIndex rows and columns with level names).

HDF5 files are parsed by the octavo-h5worker process (installed next to the extension),
never in this process: a damaged file gives a CorruptionError naming it, even when it
crashes libhdf5.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import _octavo
from .convert import write_table_atomic
from .enums import Compression, ImportAction, MigrationStatus, name_arg, name_of
from .errors import check_fspath, check_text

if TYPE_CHECKING:
    from .bundle import Bundle

H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def _is_h5(path: Path) -> bool:
    return path.suffix.lower() in H5_SUFFIXES


def get_dataframe_path(path: str | os.PathLike[str]) -> Path:
    """The file a DataFrame for `path` lives in: `x.h5` -> `x.parquet` when that exists,
    otherwise the path itself."""
    p = Path(path)
    if _is_h5(p):
        pq_path = parquet_path_for(p, "", 1)
        if pq_path.exists():
            return pq_path
    return p


def read_h5_arrow(path: str | os.PathLike[str], key: str | None = None) -> pa.Table:
    """Read one pandas HDFStore object with octavo's C++ HDF5 reader (never PyTables)."""
    return pa.table(_octavo.h5_read_pandas(check_fspath(path, "HDF5 file"), check_text(key or "", "HDF5 key")))


def list_h5(path: str | os.PathLike[str]) -> list[dict]:
    """Objects in an HDF5 file: pandas objects (supported or not) and every other dataset."""
    return _octavo.h5_list(check_fspath(path, "HDF5 file"))


def _arrow_to_pandas(table: pa.Table) -> Any:
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


def read_dataframe(path: str | os.PathLike[str], key: str | None = None, *, write_parquet: bool = True) -> Any:  # DataFrame or Series
    """Read a DataFrame. For an HDF5 path the sibling `.parquet` wins when present; otherwise
    the HDF5 file is read in C++ and (if `write_parquet`) the `.parquet` written beside it."""
    p = Path(path)
    target = get_dataframe_path(p)
    if key and _is_h5(p):
        keyed = parquet_path_for(p, key, 2)
        if keyed.exists():
            target = keyed
    if target.suffix.lower() == ".parquet":
        return pq.read_table(target).to_pandas()
    if _is_h5(p):
        table = read_h5_arrow(p, key)
        if write_parquet:
            nkeys = sum(1 for o in list_h5(p) if o["kind"] == "pandas")
            info = json.loads((table.schema.metadata or {}).get(b"octavo.h5", b"{}"))
            out = parquet_path_for(p, info.get("key", key or ""), nkeys)
            write_table_atomic(_strip_source(table), out)
        return _arrow_to_pandas(table)
    raise ValueError(f"unsupported file type: {p}")


def write_dataframe(df: Any, path: str | os.PathLike[str], format: str = "parquet") -> Path:
    """Write a DataFrame. A `.h5` path writes the sibling `.parquet` (HDF5 is never written)."""
    import pandas as pd

    if format != "parquet":
        raise ValueError("only format='parquet' is supported")
    p = Path(path)
    out = p.with_suffix(".parquet") if (_is_h5(p) or p.suffix == "") else p
    if isinstance(df, pd.Series):
        df = df.to_frame()
    write_table_atomic(pa.Table.from_pandas(df), out)
    return out


def inspect_h5(path: str | os.PathLike[str]) -> list[dict]:
    """Every object of an HDF5 file and what :func:`import_h5` would make of it (C++;
    the same as ``octavo h5ls``): h5_path, kind, action (group/table/array/file/link/skip),
    dest, detail, supported, reason."""
    items = _octavo.h5_inspect(check_fspath(path, "HDF5 file"))
    for it in items:
        it["action"] = name_of(it["action"], ImportAction)
    return items


def import_h5(bundle: Bundle, path: str | os.PathLike[str], dest: str = "/", compression: str | Compression = "zstd") -> dict:
    """Import a whole HDF5/PyTables file under group `dest` of an open (writable) bundle in
    one commit (nothing on failure). Returns {"file", "rows", "bytes", "items"}; items with
    supported=False were not imported, with the reason."""
    result = _octavo.h5_import(bundle._native, check_fspath(path, "HDF5 file"), check_text(dest, "node path"),
                               name_arg(compression, Compression, "compression"))
    for it in result["items"]:
        it["action"] = name_of(it["action"], ImportAction)
    return result


def parquet_path_for(h5_path: str | os.PathLike[str], key: str, num_keys: int) -> Path:
    """The Parquet file migrate writes for `key` of `h5_path` (rules in C++,
    include/octavo/hdf5.h): one key -> x.parquet, several -> x.<key with '/' -> '.'>.parquet."""
    return Path(_octavo.h5_parquet_path(check_fspath(h5_path, "HDF5 file"), key, int(num_keys)))


def migrate_h5_to_parquet(root: str | os.PathLike[str], recursive: bool = True, remove_h5: bool = False,
                          overwrite: bool = False, *, jobs: int = 1, dry_run: bool = False,
                          into: str | os.PathLike[str] | None = None, compression: str | Compression = "snappy",
                          buffered_io: bool = False) -> dict:
    """Convert every pandas HDF5 file under `root` (or `root` itself) to Parquet beside it,
    in C++ (the same code as ``octavo migrate``), `jobs` files at a time.

    The files are read and converted by `jobs` octavo-h5worker processes (spawned, never
    forked from Python): HDF5 never runs in this process, and a worker that crashes on a
    damaged file fails only that file. `buffered_io` writes through the page cache instead
    of O_DIRECT (``octavo migrate --buffered-io``).

    Every key is converted (x.h5 -> x.parquet, or x.<key>.parquet for several keys); each
    Parquet file is written to a temporary name, read back and compared value by value with
    the HDF5 data, fdatasync'ed and only then renamed to its final name. Files whose verified Parquet files are newer are skipped.
    `remove_h5` deletes an HDF5 file only after all its outputs were verified. `into` (a
    bundle path) imports each file into that bundle instead.

    Returns {"converted": [...], "skipped": [...], "planned": [...], "failed": {path: message},
    "files": [per-file dicts]}."""
    root_s = check_fspath(root, "migrate root")
    files = _octavo.h5_find_files(root_s, bool(recursive))
    base = root_s if Path(root_s).is_dir() else os.path.dirname(root_s)
    results = _octavo.h5_migrate(files, remove_h5=bool(remove_h5), dry_run=bool(dry_run),
                                 overwrite=bool(overwrite), jobs=int(jobs),
                                 compression=name_arg(compression, Compression, "compression"),
                                 into=check_fspath(into, "bundle path") if into else "", root=base,
                                 buffered_io=bool(buffered_io))
    report: dict[str, Any] = {"converted": [], "skipped": [], "planned": [], "failed": {}, "files": results}
    for r in results:
        r["status"] = name_of(r["status"], MigrationStatus)
        if r["status"] == "failed":
            report["failed"][r["file"]] = r["message"]
        else:
            report[r["status"]].append(r["file"])
    return report
