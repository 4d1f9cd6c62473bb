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
from .convert import LIBRARY_KEY, write_table_atomic
from .enums import Compression, ImportAction, MigrationStatus, name_arg, name_of
from .errors import (
    InvalidArgumentError,
    NotFoundError,
    OctavoNotImplementedError,
    SchemaError,
    check_fspath,
    check_text,
)
from .progress import progress_callback

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


_SOURCE_KEY = b"octavo.migrated_from"  # the source stamp migrate writes (src/hdf5/migrate.cc)
_SERIES_KEY = b"octavo.series"  # write_dataframe of a pandas Series: its name, to return a Series
_HDF5_KEY = "df_with_missing"  # DeepLabCut's HDF5 key


def _parquet_is_current(parquet: Path, h5: Path) -> bool:
    """The rule migrate uses: a Parquet file stands for an HDF5 file only while the HDF5 file is
    unchanged since the conversion -- its size and mtime equal the stamp recorded in the Parquet
    footer; a Parquet file without a stamp (written by write_dataframe) must be newer."""
    try:
        st = h5.stat()
    except FileNotFoundError:
        return True  # the HDF5 file is gone: the Parquet file is all there is
    meta = pq.read_metadata(parquet).metadata or {}
    stamp = meta.get(_SOURCE_KEY)
    if stamp is None:
        return parquet.stat().st_mtime_ns >= st.st_mtime_ns
    try:
        s = json.loads(stamp)
        return int(s["size"]) == st.st_size and int(s["mtime_ns"]) == st.st_mtime_ns
    except (ValueError, KeyError, TypeError):
        return False


def _stamp(h5: Path, key: str) -> bytes:
    st = h5.stat()
    # verified=False: migrate (which reads every value back) converts such a file again
    return json.dumps({"file": h5.name, "key": key, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                       "verified": False}, separators=(",", ":")).encode()


def _read_parquet(target: Path) -> Any:
    table = pq.read_table(target)
    meta = table.schema.metadata or {}
    lib = meta.get(LIBRARY_KEY)
    if lib == b"polars":
        import polars as pl

        return pl.from_arrow(table.replace_schema_metadata({k: v for k, v in meta.items() if k != b"pandas"}))
    df = table.to_pandas()
    if _SERIES_KEY in meta and df.shape[1] == 1:
        s = df.iloc[:, 0]
        s.name = json.loads(meta[_SERIES_KEY])
        return s
    return df


def read_dataframe(path: str | os.PathLike[str], key: str | None = None, *, write_parquet: bool = True) -> Any:  # DataFrame or Series
    """Read a DataFrame. For an HDF5 path the sibling `.parquet` wins while it is current (the
    HDF5 file unchanged since the conversion, the same rule as migrate); otherwise the HDF5 file
    is read in C++ and (if `write_parquet`) the `.parquet` written beside it. `.csv` paths are
    read with pandas (first column as the index)."""
    p = Path(check_fspath(path, "data frame file"))
    if p.suffix.lower() == ".csv":
        import pandas as pd

        if not p.exists():
            raise NotFoundError(f"no such file: {str(p)!r}")
        return pd.read_csv(p, index_col=0)
    target = get_dataframe_path(p)
    if key and _is_h5(p):
        keyed = parquet_path_for(p, key, 2)
        if keyed.exists():
            target = keyed
    if target.suffix.lower() == ".parquet" and (not _is_h5(p) or _parquet_is_current(target, p)):
        if not target.exists():
            raise NotFoundError(f"no such file: {str(target)!r}")
        return _read_parquet(target)
    if _is_h5(p):
        if not p.exists():
            raise NotFoundError(f"no such file: {str(p)!r} (nor a .parquet beside it)")
        table = read_h5_arrow(p, key)
        if write_parquet:
            nkeys = sum(1 for o in list_h5(p) if o["kind"] == "pandas")
            info = json.loads((table.schema.metadata or {}).get(b"octavo.h5", b"{}"))
            k = info.get("key", key or "")
            out = parquet_path_for(p, k, nkeys)
            stripped = _strip_source(table)
            meta = dict(stripped.schema.metadata or {})
            meta[_SOURCE_KEY] = _stamp(p, k)
            write_table_atomic(stripped.replace_schema_metadata(meta), out)
        return _arrow_to_pandas(table)
    raise InvalidArgumentError(f"unsupported file type {p.suffix!r} for {str(p)!r}: give a .parquet, .h5/.hdf5 "
                               "or .csv path")


def write_dataframe(df: Any, path: str | os.PathLike[str], format: str = "parquet") -> Path:  # noqa: A002 (DeepLabCut's name)
    """Write a DataFrame (pandas or polars) or a pandas Series; returns the file written.

    format='parquet' (default): a `.h5` path writes the sibling `.parquet`. format='hdf5':
    a pandas-readable HDF5 file through ``pandas.to_hdf`` (key 'df_with_missing', as DeepLabCut
    writes; needs PyTables). A `.csv` path (or format='csv') writes CSV with pandas."""
    import pandas as pd

    fmt = str(format).lower()
    if fmt not in ("parquet", "hdf5", "h5", "csv"):
        raise InvalidArgumentError(f"format must be 'parquet', 'hdf5' or 'csv', got {format!r}")
    p = Path(check_fspath(path, "data frame file"))
    if fmt == "csv" or p.suffix.lower() == ".csv":
        out = p if p.suffix.lower() == ".csv" else p.with_suffix(".csv")
        (df.to_pandas() if hasattr(df, "to_arrow") and not isinstance(df, pd.DataFrame) else df).to_csv(out)
        return out
    if fmt in ("hdf5", "h5"):
        import importlib.util

        if importlib.util.find_spec("tables") is None:  # pandas writes HDF5 through PyTables
            raise OctavoNotImplementedError("write_dataframe(format='hdf5') writes through pandas, which needs "
                                            "PyTables: pip install tables (or write Parquet, the default)")
        out = p if _is_h5(p) else p.with_suffix(".h5")
        frame = df.to_pandas() if hasattr(df, "to_arrow") and not isinstance(df, (pd.DataFrame, pd.Series)) else df
        tmp = out.with_name(out.name + ".tmp")
        frame.to_hdf(tmp, key=_HDF5_KEY, mode="w", format="table")
        os.replace(tmp, out)
        return out
    out = p.with_suffix(".parquet") if (_is_h5(p) or p.suffix == "") else p
    if isinstance(df, pd.Series):
        table = pa.Table.from_pandas(df.to_frame())
        meta = dict(table.schema.metadata or {})
        meta[_SERIES_KEY] = json.dumps(df.name).encode()
        table = table.replace_schema_metadata(meta)
    elif isinstance(df, pd.DataFrame):
        table = pa.Table.from_pandas(df)
    elif hasattr(df, "to_arrow"):  # polars
        table = df.to_arrow()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), LIBRARY_KEY: b"polars"})
    else:
        raise SchemaError(f"write_dataframe: cannot write a {type(df).__name__}; give a pandas or polars DataFrame "
                          "or a pandas Series")
    write_table_atomic(table, out)
    return out


def inspect_h5(path: str | os.PathLike[str]) -> list[dict]:
    """Every object of an HDF5 file and what :func:`import_h5` would make of it (C++;
    the same as ``octavo h5ls``): h5_path, kind, action (group/table/array/file/link/skip),
    dest, detail, supported, reason."""
    items = _octavo.h5_inspect(check_fspath(path, "HDF5 file"))
    for it in items:
        it["action"] = name_of(it["action"], ImportAction)
    return items


def import_h5(bundle: Bundle, path: str | os.PathLike[str], dest: str = "/", compression: str | Compression = "zstd",
              *, progress: bool | None = None) -> dict:
    """Import a whole HDF5/PyTables file under group `dest` of an open (writable) bundle in
    one commit (nothing on failure). Returns {"file", "rows", "bytes", "items"}; items with
    supported=False were not imported, with the reason. `progress`: see octavo.progress
    (default: shown when stderr is a terminal)."""
    path_s = check_fspath(path, "HDF5 file")
    with progress_callback(progress, f"import {os.path.basename(path_s)}", "objects") as cb:
        result = _octavo.h5_import(bundle._native, path_s, check_text(dest, "node path"),
                                   name_arg(compression, Compression, "compression"), progress=cb)
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
                          buffered_io: bool = False, progress: bool | None = None) -> MigrationReport:
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

    Returns the number of files converted, an int that also holds the report (see
    MigrationReport): r["converted"], r["skipped"], r["planned"], r["failed"] ({path: message}),
    r["files"] (per-file dicts). `progress`: one step per file (see octavo.progress; default:
    shown when stderr is a terminal)."""
    root_s = check_fspath(root, "migrate root")
    files = _octavo.h5_find_files(root_s, bool(recursive))
    base = root_s if Path(root_s).is_dir() else os.path.dirname(root_s)
    with progress_callback(progress, "migrate", "files") as cb:
        results = _octavo.h5_migrate(files, remove_h5=bool(remove_h5), dry_run=bool(dry_run),
                                     overwrite=bool(overwrite), jobs=int(jobs),
                                     compression=name_arg(compression, Compression, "compression"),
                                     into=check_fspath(into, "bundle path") if into else "", root=base,
                                     buffered_io=bool(buffered_io), progress=cb)
    report: dict[str, Any] = {"converted": [], "skipped": [], "planned": [], "failed": {}, "files": results}
    for r in results:
        r["status"] = name_of(r["status"], MigrationStatus)
        if r["status"] == "failed":
            report["failed"][r["file"]] = r["message"]
        else:
            report[r["status"]].append(r["file"])
    return MigrationReport(report)


class MigrationReport(int):
    """What migrate_h5_to_parquet returns: the number of files converted (DeepLabCut's code
    prints it), which also carries the per-file report: ``r["converted"]``, ``r["skipped"]``,
    ``r["planned"]``, ``r["failed"]`` ({file: message}), ``r["files"]`` (per-file dicts), or
    ``r.report`` (the dict)."""

    report: dict[str, Any]

    def __new__(cls, report: dict[str, Any]) -> MigrationReport:
        self = super().__new__(cls, len(report["converted"]))
        self.report = report
        return self

    def __getitem__(self, key: str) -> Any:
        return self.report[key]

    def __contains__(self, key: object) -> bool:
        return key in self.report

    def keys(self) -> Any:
        return self.report.keys()

    def items(self) -> Any:
        return self.report.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self.report.get(key, default)

    def __str__(self) -> str:  # print / f-strings show the count, as an int would
        return int.__repr__(self)

    def __format__(self, spec: str) -> str:
        return int(self).__format__(spec)

    def __repr__(self) -> str:
        r = self.report
        return (f"MigrationReport(converted={len(r['converted'])}, skipped={len(r['skipped'])}, "
                f"planned={len(r['planned'])}, failed={len(r['failed'])})")
