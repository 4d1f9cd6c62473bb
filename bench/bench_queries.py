#!/usr/bin/env python3
"""Conditional reads: octavo (unsorted / sorted / indexed) vs PyTables in-kernel read_where
(without / with index), pandas (read Parquet, then mask), polars (scan_parquet().filter())
and DuckDB on the same Parquet files.

    python3 bench/bench_queries.py                      # 50M rows (PyTables at 10M rows)
    python3 bench/bench_queries.py --rows 2000000       # quick run

Table: id int64 (row number), v float64 uniform in [0, 1), cat string (8 values), ts timestamp[ns].
Conditions on v select 0.01%, 1%, 10% and 50% of the rows (all columns returned), plus a point
lookup on cat combined with a range on v. pandas, polars and DuckDB read octavo's own part files
(plain Parquet). PyTables indexing 50M rows is slow, so its file holds --pytables-rows rows
(default min(rows, 10M)) and its times are also shown scaled to the full row count (linear).

Every query runs in a fresh child process (best of --repeat runs inside it); memory is the
peak-RSS growth during the query (VmHWM reset after imports / opening). "full load" is
octavo's read() of the whole table, for reference.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Workload  # noqa: E402

CATS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
SELECTIVITY = [("0.01%", 0.0001), ("1%", 0.01), ("10%", 0.1), ("50%", 0.5)]
CHUNK = 5_000_000
LAYOUT = 7  # bump when octavo's part layout changes (2: no dictionary for high-cardinality columns, 3: delta ids, 4-5: incompressible columns uncompressed, 6: 8,192-row pages, 7: page CRCs -- layout 6 data predated them, so its query times left out their checking)


def gen_chunk(first: int, n: int):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(first + 12345)
    return pa.table({
        "id": pa.array(np.arange(first, first + n, dtype=np.int64)),
        "v": pa.array(rng.random(n)),
        "cat": pa.array(np.array(CATS)[rng.integers(0, len(CATS), n)]),
        "ts": pa.array((1_700_000_000_000_000_000 + np.arange(first, first + n, dtype=np.int64) * 1_000_000),
                       type=pa.timestamp("ns")),
    })


def paths(rows: int) -> dict:
    d = os.path.join(common.DATA_DIR, f"queries_{rows}")
    return {"dir": d, "bundle": os.path.join(d, "q.octavo"), "h5": os.path.join(d, "pytables.h5"),
            "h5i": os.path.join(d, "pytables_indexed.h5"), "meta": os.path.join(d, "meta.json")}


def prepare(rows: int, pt_rows: int) -> dict:
    import octavo

    p = paths(rows)
    old = json.load(open(p["meta"])) if os.path.exists(p["meta"]) else {}
    if old.get("pt_rows") == pt_rows and old.get("layout") == LAYOUT:
        return old
    # A new octavo file layout only needs the bundle rewritten: keep the PyTables files.
    keep_pt = old.get("pt_rows") == pt_rows and os.path.exists(p["h5"]) and os.path.exists(p["h5i"])
    if keep_pt:
        shutil.rmtree(p["bundle"], ignore_errors=True)
    else:
        shutil.rmtree(p["dir"], ignore_errors=True)
        os.makedirs(p["dir"])
    meta = {"rows": rows, "pt_rows": pt_rows, "layout": LAYOUT}
    t0 = time.perf_counter()
    with octavo.open(p["bundle"], "w") as b:
        for first in range(0, rows, CHUNK):
            c = gen_chunk(first, min(CHUNK, rows - first))
            if first == 0:
                b.create_table("/unsorted", data=c)
            else:
                b.table("/unsorted").append(c)
        meta["write_s"] = time.perf_counter() - t0
        b.copy_node("/unsorted", "/", "sorted")
        b.copy_node("/unsorted", "/", "indexed")
        t0 = time.perf_counter()
        b.table("/sorted").sort_by("v")
        meta["sort_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        b.table("/indexed").create_index("v")
        meta["index_s"] = time.perf_counter() - t0
    print(f"octavo: wrote {rows:,} rows in {meta['write_s']:.1f} s, sorted in {meta['sort_s']:.1f} s, "
          f"indexed in {meta['index_s']:.1f} s", flush=True)
    if keep_pt:
        meta["pt_write_s"], meta["pt_index_s"] = old["pt_write_s"], old["pt_index_s"]
    else:
        meta["pt_write_s"], meta["pt_index_s"] = write_pytables(p, pt_rows)
    print(f"PyTables: wrote {pt_rows:,} rows in {meta['pt_write_s']:.1f} s, "
          f"indexed (full) in {meta['pt_index_s']:.1f} s", flush=True)
    json.dump(meta, open(p["meta"], "w"))
    return meta


def write_pytables(p: dict, pt_rows: int):
    import numpy as np
    import tables

    dtype = np.dtype([("id", np.int64), ("v", np.float64), ("cat", "S5"), ("ts", np.int64)])
    t0 = time.perf_counter()
    with tables.open_file(p["h5"], "w") as f:
        t = f.create_table("/", "t", description=dtype, expectedrows=pt_rows,
                           filters=tables.Filters(complevel=1, complib="blosc:zstd"))
        for first in range(0, pt_rows, CHUNK):
            c = gen_chunk(first, min(CHUNK, pt_rows - first))
            arr = np.empty(c.num_rows, dtype=dtype)
            arr["id"] = c.column("id").to_numpy()
            arr["v"] = c.column("v").to_numpy()
            arr["cat"] = np.array(c.column("cat").to_pylist(), dtype="S5")
            arr["ts"] = c.column("ts").cast("int64").to_numpy()
            t.append(arr)
        t.flush()
    write_s = time.perf_counter() - t0
    shutil.copy(p["h5"], p["h5i"])
    t0 = time.perf_counter()
    with tables.open_file(p["h5i"], "a") as f:
        f.root.t.cols.v.create_csindex()
        f.root.t.cols.cat.create_csindex()
    return write_s, time.perf_counter() - t0


# --- children (run in fresh processes) ------------------------------------------------------

def _timed(probe, fn, repeat):
    probe.mark()
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = fn()
        best = min(best, time.perf_counter() - t0)
        n = len(r)
        del r
    return {"best": best, "rows": n}


def child_octavo(probe, bundle, table, cond, repeat, use_index=True):
    import octavo

    b = octavo.open(bundle)
    t = b.table(table)
    out = _timed(probe, lambda: t.read_where(cond, return_type="arrow", use_index=use_index), repeat)
    out["stats"] = t.last_query_stats
    return out


def child_octavo_full(probe, bundle, table, repeat):
    import octavo

    t = octavo.open(bundle).table(table)
    return _timed(probe, lambda: t.read(return_type="arrow"), repeat)


def child_pytables(probe, h5, cond, repeat):
    import tables

    f = tables.open_file(h5, "r")
    t = f.root.t
    return _timed(probe, lambda: t.read_where(cond), repeat)


def child_pandas(probe, files, v_max, cat, repeat):
    import pandas as pd

    def q():
        df = pd.read_parquet(files)
        m = df["v"] < v_max
        if cat:
            m &= df["cat"] == cat
        return df[m]
    return _timed(probe, q, repeat)


def child_polars(probe, files, v_max, cat, repeat):
    import polars as pl

    def q():
        e = pl.col("v") < v_max
        if cat:
            e = e & (pl.col("cat") == cat)
        return pl.scan_parquet(files).filter(e).collect()
    return _timed(probe, q, repeat)


def child_duckdb(probe, files, v_max, cat, repeat):
    import duckdb

    con = duckdb.connect()
    src = "read_parquet([" + ", ".join("'" + f + "'" for f in files) + "])"
    where = f"v < {v_max!r}" + (f" AND cat = '{cat}'" if cat else "")
    return _timed(probe, lambda: con.sql(f"SELECT * FROM {src} WHERE {where}").to_arrow_table(), repeat)


# --- driver -------------------------------------------------------------------------------------

def run(args) -> list[Workload]:
    import octavo

    meta = prepare(args.rows, args.pytables_rows)
    p = paths(args.rows)
    with octavo.open(p["bundle"]) as b:
        files = b.table("/unsorted").part_paths
        sizes = {n: b.table(n).info()["size_bytes"] for n in ("/unsorted", "/sorted", "/indexed")}
    scale = args.rows / args.pytables_rows
    rp = args.repeat
    workloads = []
    full = common.run_in_fresh_process("bench_queries", "child_octavo_full", p["bundle"], "/unsorted", 1)
    queries = [(f"v < {x} ({name})", x, None) for name, x in SELECTIVITY]
    queries.append(("cat == 'gamma' & v < 0.01 (0.125%)", 0.01, "gamma"))
    for label, x, cat in queries:
        cond = f"v < {x}" + (f" & (cat == '{cat}')" if cat else "")
        cond = f"(v < {x}) & (cat == '{cat}')" if cat else cond
        pt_cond = f"(v < {x}) & (cat == b'{cat}')" if cat else f"v < {x}"
        wt = Workload(f"{label}: time", "s")
        wm = Workload(f"{label}: peak memory", "MiB")
        results = {}

        def add(tool, r, peer=True, note=""):
            results[tool] = r
            wt.add(tool, r["result"]["best"], peer=peer, note=note)
            wm.add(tool, r["delta_rss"] / 2**20, peer=peer, note=note)

        add("octavo", common.run_in_fresh_process("bench_queries", "child_octavo", p["bundle"], "/unsorted",
                                                  cond, rp), note="unsorted, statistics pruning")
        add("octavo sorted", common.run_in_fresh_process("bench_queries", "child_octavo", p["bundle"], "/sorted",
                                                         cond, rp), peer=False, note="table sorted by v")
        add("octavo index", common.run_in_fresh_process("bench_queries", "child_octavo", p["bundle"], "/indexed",
                                                        cond, rp), peer=False, note="index on v")
        if not args.skip_pytables:
            r = common.run_in_fresh_process("bench_queries", "child_pytables", p["h5"], pt_cond, rp)
            r["result"]["best"] *= scale
            r["delta_rss"] *= scale
            add("pytables", r, note=f"in-kernel, {args.pytables_rows:,} rows x{scale:g}")
            r = common.run_in_fresh_process("bench_queries", "child_pytables", p["h5i"], pt_cond, rp)
            r["result"]["best"] *= scale
            r["delta_rss"] *= scale
            add("pytables index", r, note=f"CSI index, {args.pytables_rows:,} rows x{scale:g}")
        add("pandas", common.run_in_fresh_process("bench_queries", "child_pandas", files, x, cat, rp),
            note="read_parquet then mask")
        add("polars", common.run_in_fresh_process("bench_queries", "child_polars", files, x, cat, rp),
            note="scan_parquet().filter().collect()")
        add("duckdb", common.run_in_fresh_process("bench_queries", "child_duckdb", files, x, cat, rp),
            note="SELECT * WHERE, to Arrow")
        wm.add("full load", full["delta_rss"] / 2**20, peer=False, note="octavo read() of the whole table")
        wt.add("full load", full["result"]["best"], peer=False, note="octavo read() of the whole table")
        # Same answers (row counts; PyTables' scaled by its smaller file).
        n = results["octavo"]["result"]["rows"]
        for tool in ("octavo sorted", "octavo index", "pandas", "polars", "duckdb"):
            assert results[tool]["result"]["rows"] == n, (label, tool, results[tool]["result"]["rows"], n)
        s = results["octavo"]["result"]["stats"]
        si = results["octavo index"]["result"]["stats"]
        ss = results["octavo sorted"]["result"]["stats"]
        wt.note = (f"{n:,} rows; unsorted skipped {s['row_groups_skipped']}/{s['row_groups_total']} row groups; "
                   f"sorted skipped {ss['row_groups_skipped']}/{ss['row_groups_total']}; "
                   f"index scanned {si['rows_scanned']:,} rows")
        for w in (wt, wm):
            common.print_workload(w)
            workloads.append(w)
    meta["sizes"] = sizes
    meta["full_load_s"] = full["result"]["best"]
    meta["full_load_mib"] = full["delta_rss"] / 2**20
    args.meta = meta
    return workloads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50_000_000)
    ap.add_argument("--pytables-rows", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-pytables", action="store_true")
    args = ap.parse_args()
    if args.pytables_rows is None:
        args.pytables_rows = min(args.rows, 10_000_000)
    workloads = run(args)
    tools = ["octavo", "octavo sorted", "octavo index", "pytables", "pytables index", "pandas", "polars", "duckdb",
             "full load"]
    md = [f"# Queries, {args.rows:,} rows", "", common.machine_description(), "",
          "```json", json.dumps({k: v for k, v in args.meta.items()}, indent=1), "```", "",
          common.workloads_markdown(workloads, tools), "", common.details_markdown(workloads)]
    out = os.path.join(common.DATA_DIR, f"queries_results_{args.rows}.md")
    open(out, "w").write("\n".join(md) + "\n")
    print("\n" + common.workloads_markdown(workloads, tools))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
