#!/usr/bin/env python3
"""octavo tables vs pyarrow / polars / pandas / PyTables on one numeric table.

    python3 bench/bench_tables.py              # 20M rows x 10 columns (~10 minutes)
    python3 bench/bench_tables.py --rows 1000000   # quick run

The source table (int64 + float64, seeded random) is generated once into bench/data/
(gitignored) and reused. Every tool writes its own file(s) from the same data in the write
step, and the read workloads read each tool's own file(s). Times are best-of-k wall
times; memory is the peak-RSS growth of a fresh child process during the workload.
Results are printed, and written as markdown + JSON next to the data.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Workload, adaptive_repeat, best_of  # noqa: E402

TABLE = "t"
INT_COLS = ["id", "ts", "cat", "count", "big"]
FLOAT_COLS = ["x", "y", "price", "level", "walk"]
COLUMNS = INT_COLS + FLOAT_COLS
PROJECTION = ["count", "x"]          # the 2-of-10 columns read
SUM_COL = "count"                   # summed by the chunked-iteration workload (int: exact)
CHUNK = 100_000
MAIN_TOOLS = ["octavo", "pyarrow", "polars", "pandas", "pytables"]
HDF5_FILTER = dict(complevel=1, complib="blosc:zstd", shuffle=True)
HDF5_FILTER_DESC = "Blosc zstd level 1 + byte shuffle"


# --- data -----------------------------------------------------------------------------

def source_path(rows: int) -> str:
    return os.path.join(common.DATA_DIR, f"source_{rows}.arrow")


def generate(rows: int, seed: int = 20240611):
    """A seeded numeric table: sequential, monotonic, low-cardinality and random columns."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    cols = {
        "id": np.arange(rows, dtype=np.int64),                                  # sequential key
        "ts": 1_700_000_000_000 + np.cumsum(rng.integers(1, 1000, rows)),        # monotonic timestamps (ms)
        "cat": rng.integers(0, 16, rows),                                         # 16 categories
        "count": rng.poisson(100, rows).astype(np.int64),                         # small counts
        "big": rng.integers(-(2**62), 2**62, rows),                               # incompressible
        "x": rng.standard_normal(rows),                                           # incompressible floats
        "y": rng.random(rows),
        "price": np.round(rng.lognormal(3.0, 1.0, rows), 2),                      # 2 decimals
        "level": rng.integers(0, 8, rows) * 0.25,                                 # 8 distinct values
        "walk": np.cumsum(rng.standard_normal(rows)),                             # random walk
    }
    return pa.table({k: np.ascontiguousarray(v, dtype=np.int64 if k in INT_COLS else np.float64)
                     for k, v in cols.items()})


def load_source(rows: int):
    """The source table, in memory (not memory-mapped, so writers do not page-fault)."""
    import pyarrow as pa

    path = source_path(rows)
    if not os.path.exists(path):
        os.makedirs(common.DATA_DIR, exist_ok=True)
        print(f"[data] generating {rows:,} rows -> {path}")
        t = generate(rows)
        tmp = path + ".tmp"
        with pa.OSFile(tmp, "wb") as f, pa.ipc.new_file(f, t.schema) as w:
            w.write_table(t, max_chunksize=1 << 20)
        os.replace(tmp, path)
        del t
    with pa.OSFile(path, "rb") as f:
        return pa.ipc.open_file(f).read_all().combine_chunks()


class Paths:
    def __init__(self, rows: int):
        self.dir = os.path.join(common.DATA_DIR, f"run_{rows}")
        self.octavo = os.path.join(self.dir, "octavo.bundle")
        self.pyarrow = os.path.join(self.dir, "pyarrow.parquet")
        self.polars = os.path.join(self.dir, "polars.parquet")
        self.pandas = os.path.join(self.dir, "pandas.parquet")
        self.tables = os.path.join(self.dir, "pytables.h5")

    def octavo_parts(self) -> list[str]:
        import octavo

        with octavo.open(self.octavo, "r") as b:
            return b.get_table_path(TABLE)


def _rm(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def middle(rows: int) -> tuple[int, int]:
    start = rows // 2
    return start, min(rows, start + 1000)


# --- writers ---------------------------------------------------------------------------

def write_octavo(table, path):
    import octavo

    with octavo.open(path, "w") as b:
        b.create_table(TABLE, data=table)


def write_pyarrow(table, path, fsync=False):
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")
    if fsync:
        _fsync(path)


def write_polars(df, path):
    df.write_parquet(path, compression="zstd")


def write_pandas(df, path):
    df.to_parquet(path, engine="pyarrow", compression="zstd", index=False)


def write_tables(arr, path):
    import tables

    with tables.open_file(path, "w") as f:
        t = f.create_table("/", TABLE, description=arr.dtype, filters=tables.Filters(**HDF5_FILTER),
                           expectedrows=len(arr))
        t.append(arr)
        t.flush()


def to_structured(table):
    import numpy as np

    arr = np.empty(table.num_rows, dtype=[(n, np.int64 if n in INT_COLS else np.float64) for n in COLUMNS])
    for n in COLUMNS:
        arr[n] = table.column(n).to_numpy()
    return arr


# --- readers -----------------------------------------------------------------------------

def pyarrow_careful_range(path, start, stop, columns=None):
    """What a careful pyarrow user does: read only the row groups that hold [start, stop)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    md = pf.metadata
    groups, first, row0 = [], 0, None
    for i in range(md.num_row_groups):
        n = md.row_group(i).num_rows
        if first + n > start and first < stop:
            groups.append(i)
            if row0 is None:
                row0 = first
        first += n
    return pf.read_row_groups(groups, columns=columns).slice(start - row0, stop - start)


# --- chunked iteration children (run in a fresh interpreter by common.run_in_fresh_process) ---

def child_octavo(probe, path, chunk, col):
    import hashlib  # noqa: F401  (see main(): import order work-around)

    import pyarrow.compute as pc

    import octavo

    b = octavo.open(path, "r")
    t = b.table(TABLE)
    probe.mark()
    s = 0
    for batch in t.iter_batches(chunk, return_type="arrow"):
        s += pc.sum(batch.column(col)).as_py()
    return s


def child_pyarrow(probe, path, chunk, col):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    probe.mark()
    s = 0
    for rb in pf.iter_batches(batch_size=chunk):
        s += pc.sum(rb.column(col)).as_py()
    return s


def child_polars(probe, path, chunk, col):
    import polars as pl

    lf = pl.scan_parquet(path)
    probe.mark()
    s = 0
    for df in lf.collect_batches(chunk_size=chunk):
        s += int(df[col].sum())
    return s


def child_pandas(probe, path, chunk, col):
    import pandas as pd

    probe.mark()
    df = pd.read_parquet(path, engine="pyarrow")
    return int(df[col].sum())


def child_tables(probe, path, chunk, col):
    import tables

    f = tables.open_file(path, "r")
    t = f.root[TABLE]
    n = t.nrows
    probe.mark()
    s = 0
    for i in range(0, n, chunk):
        s += int(t.read(i, min(n, i + chunk))[col].sum())  # all columns, like the others
    f.close()
    return s


# --- the benchmark -------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="repeats of the slow (full-data) workloads")
    ap.add_argument("--skip", default="", help="comma-separated tools to leave out (e.g. pytables)")
    ap.add_argument("--out", default=None, help="markdown results file (default bench/data/results_<rows>.md)")
    args = ap.parse_args()

    # Peers first: an octavo build that linked the system libcrypto (via libhdf5 -> libcurl)
    # crashed when hashlib/numpy.random/pandas were imported after it (fixed since by
    # octavo/_preload.py, and since by moving libhdf5 out of the extension into the
    # octavo-h5worker process); importing them first keeps older builds measurable.
    import hashlib  # noqa: F401

    import numpy as np  # noqa: F401
    import pandas as pd
    import polars as pl
    import pyarrow as pa  # noqa: F401
    import pyarrow.parquet as pq
    import tables

    import octavo

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    rows = args.rows
    R = max(1, args.repeat)
    t_begin = time.perf_counter()
    print(f"[machine] {common.machine_description()}")
    print(f"[versions] {common.versions()}")
    src = load_source(rows)
    print(f"[data] {rows:,} rows x {src.num_columns} columns, {src.nbytes / 2**20:,.0f} MiB in memory; "
          f"load {time.perf_counter() - t_begin:.1f}s")
    p = Paths(rows)
    _rm(p.dir)
    os.makedirs(p.dir)
    results: list[Workload] = []
    files: dict[str, dict] = {}

    def done(w: Workload) -> None:
        common.print_workload(w)
        results.append(w)

    # 1. write -------------------------------------------------------------------------------
    w = Workload("write (20M x 10 → file)" if rows == 20_000_000 else f"write ({rows:,} x 10 → file)")
    w.add("octavo", best_of(lambda: write_octavo(src, p.octavo), R, setup=lambda: _rm(p.octavo)),
          note="default options; fsyncs data + manifest")
    w.add("pyarrow", best_of(lambda: write_pyarrow(src, p.pyarrow), R, setup=lambda: _rm(p.pyarrow)),
          note="write_table zstd")
    w.add("pyarrow+fsync", best_of(lambda: write_pyarrow(src, p.pyarrow, fsync=True), 1,
                                   setup=lambda: _rm(p.pyarrow)), peer=False, note="same + os.fsync")
    pdf = pl.from_arrow(src)
    w.add("polars", best_of(lambda: write_polars(pdf, p.polars), R, setup=lambda: _rm(p.polars)),
          note="write_parquet zstd")
    pdf = None  # free it (not del: the lambdas above name it)
    pdf = src.to_pandas()
    w.add("pandas", best_of(lambda: write_pandas(pdf, p.pandas), R, setup=lambda: _rm(p.pandas)),
          note="to_parquet pyarrow zstd")
    pdf = None  # free it (not del: the lambdas above name it)
    gc.collect()
    if "pytables" not in skip:
        arr = to_structured(src)
        w.add("pytables", best_of(lambda: write_tables(arr, p.tables), R, setup=lambda: _rm(p.tables)),
              note=f"Table.append, {HDF5_FILTER_DESC}")
        del arr
        gc.collect()
    done(w)

    octavo_parts = p.octavo_parts()
    for tool, path in [("octavo", p.octavo), ("pyarrow", p.pyarrow), ("polars", p.polars),
                       ("pandas", p.pandas), ("pytables", p.tables)]:
        if not os.path.exists(path):
            continue
        info = {"bytes": common.dir_size(path)}
        if tool != "pytables":
            pfiles = octavo_parts if tool == "octavo" else [path]
            mds = [pq.read_metadata(f) for f in pfiles]
            info["files"] = len(pfiles)
            info["row_groups"] = sum(m.num_row_groups for m in mds)
            info["rows_per_row_group"] = mds[0].row_group(0).num_rows
            info["codec"] = mds[0].row_group(0).column(0).compression
        else:
            with tables.open_file(path) as f:
                info["chunk_rows"] = int(f.root[TABLE].chunkshape[0])
                info["filter"] = HDF5_FILTER_DESC
        files[tool] = info
    print("\n[files] " + json.dumps(files, indent=1, default=str))

    b = octavo.open(p.octavo, "r")
    ot = b.table(TABLE)
    files["octavo"]["options"] = ot.info().get("options")
    print(f"[octavo] table options: {files['octavo']['options']}")
    h5 = tables.open_file(p.tables, "r") if "pytables" not in skip else None
    start, stop = middle(rows)

    # correctness spot checks (not timed)
    assert ot.num_rows == rows
    ref = src.slice(start, stop - start).column("id").to_pylist()
    assert ot.read(start, stop, return_type="arrow").column("id").to_pylist() == ref
    assert pyarrow_careful_range(p.pyarrow, start, stop).column("id").to_pylist() == ref
    assert pl.scan_parquet(p.polars).slice(start, stop - start).collect()["id"].to_list() == ref
    if h5 is not None:
        assert h5.root[TABLE].read(start, stop)["id"].tolist() == ref
    src = None  # free it (not del: the lambdas above name it)
    gc.collect()

    # 2. full read ------------------------------------------------------------------------------
    w = Workload("full read (all rows, 10 cols)")
    w.add("octavo", best_of(lambda: ot.read(return_type="arrow"), R + 1), note="→ pyarrow.Table")
    w.add("pyarrow", best_of(lambda: pq.read_table(p.pyarrow), R + 1), note="pq.read_table")
    w.add("polars", best_of(lambda: pl.read_parquet(p.polars), R + 1), note="→ polars.DataFrame")
    w.add("pandas", best_of(lambda: pd.read_parquet(p.pandas, engine="pyarrow"), R + 1), note="→ pandas.DataFrame")
    if h5 is not None:
        w.add("pytables", best_of(lambda: h5.root[TABLE].read(), R + 1), note="→ numpy structured array")
    w.add("pyarrow on octavo files", best_of(lambda: pq.ParquetDataset(octavo_parts).read(), R), peer=False,
          note="pq.ParquetDataset(b.get_table_path()).read()")
    done(w)

    # 3. projection --------------------------------------------------------------------------
    w = Workload("2-of-10 columns (all rows)")
    w.add("octavo", best_of(lambda: ot.read(columns=PROJECTION, return_type="arrow"), R + 1))
    w.add("pyarrow", best_of(lambda: pq.read_table(p.pyarrow, columns=PROJECTION), R + 1))
    w.add("polars", best_of(lambda: pl.read_parquet(p.polars, columns=PROJECTION), R + 1))
    w.add("pandas", best_of(lambda: pd.read_parquet(p.pandas, engine="pyarrow", columns=PROJECTION), R + 1))
    if h5 is not None:
        w.add("pytables", best_of(lambda: [h5.root[TABLE].read(field=c) for c in PROJECTION], 1),
              note="read(field=c) per column")
    done(w)

    # 4. 1,000 rows from the middle ---------------------------------------------------------------
    w = Workload("1,000 rows from the middle")
    w.add("octavo", adaptive_repeat(lambda: ot.read(start, stop, return_type="arrow")), note="t.read(start, stop)")
    w.add("pyarrow", adaptive_repeat(lambda: pyarrow_careful_range(p.pyarrow, start, stop)),
          note="ParquetFile + read_row_groups(needed) + slice")
    w.add("pyarrow naive", best_of(lambda: pq.read_table(p.pyarrow).slice(start, stop - start), 1),
          note="read_table().slice()")
    w.add("polars", adaptive_repeat(lambda: pl.scan_parquet(p.polars).slice(start, stop - start).collect()),
          note="scan_parquet().slice().collect()")
    w.add("pandas", best_of(lambda: pd.read_parquet(p.pandas, engine="pyarrow").iloc[start:stop], 1),
          note="read_parquet().iloc (no row-range API)")
    if h5 is not None:
        w.add("pytables", adaptive_repeat(lambda: h5.root[TABLE].read(start, stop)), note="read(start, stop), file open")
    part_file, part_first = _part_holding(octavo_parts, start)
    w.add("pyarrow on octavo part", adaptive_repeat(
        lambda: pyarrow_careful_range(part_file, start - part_first, stop - part_first)),
        peer=False, note="same code as 'pyarrow', on octavo's Parquet part")

    def octavo_open_read():
        with octavo.open(p.octavo, "r") as bb:
            return bb.table(TABLE).read(start, stop, return_type="arrow")
    w.add("octavo incl. open", adaptive_repeat(octavo_open_read), peer=False, note="octavo.open + read + close")
    done(w)

    # 5. info -------------------------------------------------------------------------------------
    def octavo_info():
        with octavo.open(p.octavo, "r") as bb:
            return bb.table_info(TABLE)

    def pyarrow_info():
        md = pq.read_metadata(p.pyarrow)
        return md.num_rows, md.schema.to_arrow_schema()

    def polars_info():
        return pl.read_parquet_schema(p.polars), pl.scan_parquet(p.polars).select(pl.len()).collect().item()

    def tables_info():
        with tables.open_file(p.tables, "r") as f:
            t = f.root[TABLE]
            return t.nrows, t.description

    w = Workload("info (rows + schema, from closed)")
    w.add("octavo", adaptive_repeat(octavo_info), note="octavo.open + table_info + close")
    w.add("pyarrow", adaptive_repeat(pyarrow_info), note="pq.read_metadata + arrow schema")
    w.add("polars", adaptive_repeat(polars_info), note="read_parquet_schema + scan.select(len)")
    if h5 is not None:
        w.add("pytables", adaptive_repeat(tables_info), note="open_file + nrows + description + close")
    w.add("octavo table_info, open bundle", adaptive_repeat(lambda: b.table_info(TABLE)), peer=False)
    w.add("octavo t.info(), open bundle", adaptive_repeat(lambda: ot.info()), peer=False)
    done(w)

    b.close()
    if h5 is not None:
        h5.close()
    gc.collect()

    # 6. chunked iteration: peak memory + time in fresh processes ------------------------------------
    mem = Workload(f"iterate all rows in {CHUNK:,}-row chunks: peak RSS growth", unit="MiB")
    tim = Workload(f"iterate all rows in {CHUNK:,}-row chunks: time")
    sums = {}
    for tool, func, path, note in [
        ("octavo", "child_octavo", p.octavo, "t.iter_batches(100_000)"),
        ("pyarrow", "child_pyarrow", p.pyarrow, "ParquetFile.iter_batches(100_000)"),
        ("polars", "child_polars", p.polars, "scan_parquet().collect_batches(chunk_size=100_000)"),
        ("pandas", "child_pandas", p.pandas, "read_parquet (full load: no chunked API)"),
        ("pytables", "child_tables", p.tables, "read(i, i+100_000) (all fields)"),
    ]:
        if tool == "pytables" and "pytables" in skip:
            continue
        r = common.run_in_fresh_process("bench_tables", func, path, CHUNK, SUM_COL)
        sums[tool] = r["result"]
        # pandas is not a chunked reader: shown for scale, not ranked.
        peer = tool != "pandas"
        mem.add(tool, r["delta_rss"] / 2**20, peer=peer, note=note)
        tim.add(tool, r["seconds"], peer=peer, note=note)
    if len(set(sums.values())) != 1:
        print(f"WARNING: column sums differ between tools: {sums}")
    done(mem)
    done(tim)

    total = time.perf_counter() - t_begin
    print(f"\n[total] {total:.0f} s")

    # summary ----------------------------------------------------------------------------------
    print("\n== octavo / fastest peer  (< 1.0: octavo is faster; [reference] rows are not ranked)")
    common.print_table(["workload", "octavo", "fastest peer", "ratio"], common.summary_rows(results))

    md = [f"Machine: {common.machine_description()}  ",
          f"Versions: {', '.join(f'{k} {v}' for k, v in common.versions().items())}  ",
          f"Data: {rows:,} rows x 10 columns (5 int64, 5 float64); "
          f"run time {total:.0f} s; best of {R} (writes), {R + 1} (full and 2-column reads), 1 (naive "
          f"full-file row slices), adaptive up to 50 (fast workloads)\n",
          common.workloads_markdown(results, MAIN_TOOLS),
          "\nDetails (every variant; ratio = octavo / this):\n",
          common.details_markdown(results),
          "\nSummary (ratio = octavo / fastest peer; < 1.0 means octavo is faster):\n",
          common.markdown_table(["workload", "octavo", "fastest peer", "ratio"], common.summary_rows(results)),
          "\nFiles:\n",
          common.markdown_table(["tool", "size", "layout"],
                                [[k, f"{v['bytes'] / 2**20:,.0f} MiB",
                                  ", ".join(f"{kk}={vv}" for kk, vv in v.items() if kk != "bytes")]
                                 for k, v in files.items()]),
          ]
    out = args.out or os.path.join(common.DATA_DIR, f"results_{rows}.md")
    with open(out, "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"rows": rows, "machine": common.machine_description(), "versions": common.versions(),
                   "files": files, "total_s": total,
                   "workloads": [{"name": wl.name, "unit": wl.unit, "ratio": wl.ratio(),
                                  "entries": [e.__dict__ for e in wl.entries]} for wl in results]},
                  f, indent=1, default=str)
    print(f"\n[written] {out}")


def _part_holding(part_files: list[str], row: int) -> tuple[str, int]:
    """The octavo part file holding table row ``row`` and that part's first row."""
    import pyarrow.parquet as pq

    first = 0
    for f in part_files:
        n = pq.read_metadata(f).num_rows
        if first + n > row:
            return f, first
        first += n
    raise IndexError(row)


if __name__ == "__main__":
    main()
