#!/usr/bin/env python3
"""Thread scaling: octavo beside polars and DuckDB given the same number of threads.

    python3 bench/bench_scaling.py                          # 2M rows, 1..available CPUs
    python3 bench/bench_scaling.py --rows 20000000 --threads 1,2,4,8,16

Workloads: write (a table of --rows rows x 8 columns to Parquet, fsync'ed by octavo), full read,
2-column read, `where u < p` selecting 0.01 / 1 / 10 / 50 % of the rows (all columns returned),
and an array sub-cube (octavo only: neither peer stores n-d arrays).

Each (engine, threads) runs in its own child process, the thread count set before the engine
is imported: OCTAVO_NUM_THREADS for octavo, POLARS_MAX_THREADS for polars (read once at import),
DuckDB `SET threads`. Every engine reads the same Parquet files (octavo's own parts, plain
Parquet). Printed: seconds (best of --repeat), each engine's speed-up over its own 1-thread
time, and octavo's time over the best peer's at the same thread count (< 1: octavo faster).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

SELECTIVITY = [0.0001, 0.01, 0.1, 0.5]
WORKLOADS = ["write", "read all", "read 2 cols"] + [f"where {p * 100:g}%" for p in SELECTIVITY] + ["array sub-cube"]
ENGINES = ["octavo", "polars", "duckdb"]


def make_data(rows: int):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(42)
    return pa.table({
        "id": np.arange(rows, dtype=np.int64),
        "u": rng.random(rows),
        "a": rng.normal(size=rows),
        "b": rng.normal(size=rows).astype(np.float32),
        "k": rng.integers(0, 1000, rows, dtype=np.int32),
        "m": rng.integers(0, 1 << 40, rows, dtype=np.int64),
        "cat": pa.array(np.array(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"])[
            rng.integers(0, 8, rows)]).dictionary_encode(),
        "ts": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 10**9, rows).astype("timedelta64[ms]")),
    })


def prepare(root: str, rows: int, row_group: int, cube: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import octavo

    data = make_data(rows)
    src = os.path.join(root, "source.arrow")
    with pa.OSFile(src, "wb") as f, pa.ipc.new_file(f, data.schema) as w:
        w.write_table(data)
    bundle = os.path.join(root, "data.octavo")
    with octavo.open(bundle, "w") as b:
        b.create_table("/t", data=data, row_group_size=row_group)
        files = b.get_table_path("/t")
        arr = np.random.default_rng(1).normal(size=(cube, cube, cube)).astype(np.float32)
        b.create_array("/cube", data=arr, chunks=(64, 64, 64))
    return {"source": src, "bundle": bundle, "files": files, "rows": rows, "row_group": row_group, "cube": cube,
            "parquet_rows_per_group": pq.ParquetFile(files[0]).metadata.row_group(0).num_rows}


# --- children: one engine at one thread count -----------------------------------------

def best(fn, repeat: int) -> float:
    import gc

    fn()  # warm: page cache, lazy pool threads
    t = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        r = fn()
        t = min(t, time.perf_counter() - t0)
        del r
    return t


def child(engine: str, threads: int, info: dict, repeat: int, out_dir: str) -> dict:
    import pyarrow as pa

    with pa.memory_map(info["source"]) as f:
        data = pa.ipc.open_file(f).read_all()
    data = data.combine_chunks()
    res: dict[str, float] = {}
    files = info["files"]
    out = os.path.join(out_dir, f"{engine}-{threads}")

    def clean():
        shutil.rmtree(out, ignore_errors=True)
        if os.path.exists(out + ".parquet"):
            os.remove(out + ".parquet")

    if engine == "octavo":
        import octavo

        assert octavo.get_num_threads() == threads, (octavo.get_num_threads(), threads)

        def write():
            clean()
            with octavo.open(out, "w") as b:
                b.create_table("/t", data=data, row_group_size=info["row_group"])

        res["write"] = best(write, repeat)
        clean()
        b = octavo.open(info["bundle"], "r")
        t = b["/t"]
        res["read all"] = best(lambda: t.read(return_type="arrow"), repeat)
        res["read 2 cols"] = best(lambda: t.read(columns=["u", "a"], return_type="arrow"), repeat)
        for p in SELECTIVITY:
            res[f"where {p * 100:g}%"] = best(lambda: t.read_where(f"u < {p}", return_type="arrow"), repeat)
        cube = b["/cube"]
        n = info["cube"]
        res["array sub-cube"] = best(lambda: cube[n // 8: n - n // 8, n // 8: n - n // 8, n // 4: n - n // 4], repeat)
    elif engine == "polars":
        import polars as pl

        assert pl.thread_pool_size() == threads, (pl.thread_pool_size(), threads)
        df = pl.from_arrow(data)

        def write():
            clean()
            df.write_parquet(out + ".parquet", row_group_size=info["row_group"])

        res["write"] = best(write, repeat)
        clean()
        res["read all"] = best(lambda: pl.read_parquet(files), repeat)
        res["read 2 cols"] = best(lambda: pl.read_parquet(files, columns=["u", "a"]), repeat)
        for p in SELECTIVITY:
            res[f"where {p * 100:g}%"] = best(lambda: pl.scan_parquet(files).filter(pl.col("u") < p).collect(), repeat)
    elif engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        con.register("src", data)
        lst = "[" + ", ".join(f"'{f}'" for f in files) + "]"

        def write():
            clean()
            con.execute(f"COPY src TO '{out}.parquet' (FORMAT parquet, ROW_GROUP_SIZE {info['row_group']})")

        res["write"] = best(write, repeat)
        clean()
        res["read all"] = best(lambda: con.sql(f"SELECT * FROM read_parquet({lst})").to_arrow_table(), repeat)
        res["read 2 cols"] = best(lambda: con.sql(f"SELECT u, a FROM read_parquet({lst})").to_arrow_table(),
                                  repeat)
        for p in SELECTIVITY:
            res[f"where {p * 100:g}%"] = best(
                lambda: con.sql(f"SELECT * FROM read_parquet({lst}) WHERE u < {p}").to_arrow_table(), repeat)
    return res


# --- parent ------------------------------------------------------------------------------

def run_child(engine: str, threads: int, info_path: str, repeat: int, out_dir: str) -> dict:
    env = dict(os.environ)
    env["OCTAVO_NUM_THREADS"] = str(threads)
    env["POLARS_MAX_THREADS"] = str(threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", engine, "--child-threads", str(threads),
           "--info", info_path, "--repeat", str(repeat), "--out-dir", out_dir]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"{engine} at {threads} threads failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--row-group", type=int, default=128 * 1024)
    ap.add_argument("--cube", type=int, default=512, help="edge of the float32 array cube (sub-cube: its middle)")
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default 1, 2, 4, .. up to "
                                                    "the CPUs available, and that count)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-threads", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--info", help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        with open(args.info) as f:
            info = json.load(f)
        print(json.dumps(child(args.child, args.child_threads, info, args.repeat, args.out_dir)))
        return

    import octavo
    from common import machine_description, markdown_table, print_table

    cpus = octavo.available_cpus()
    if args.threads:
        counts = [int(x) for x in args.threads.split(",")]
    else:
        counts, n = [], 1
        while n < cpus:
            counts.append(n)
            n *= 2
        counts.append(cpus)
    engines = args.engines.split(",")
    root = tempfile.mkdtemp(prefix="octavo-scaling-")
    try:
        t0 = time.perf_counter()
        info = prepare(root, args.rows, args.row_group, args.cube)
        info_path = os.path.join(root, "info.json")
        with open(info_path, "w") as f:
            json.dump(info, f)
        print(f"# {args.rows:,} rows x 8 columns, row groups of {args.row_group:,} rows, "
              f"{len(info['files'])} part(s); cube {args.cube}^3 float32; prepared in {time.perf_counter() - t0:.1f} s")
        print(f"# machine: {machine_description()}; CPUs available to this process: {cpus}")
        results: dict[tuple[str, int], dict] = {}
        for n in counts:
            for e in engines:
                results[(e, n)] = run_child(e, n, info_path, args.repeat, root)
                print(f"  {e} @ {n} threads done", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    headers = ["workload", "threads"] + [f"{e}" for e in engines] + [f"{e} speed-up" for e in engines] + \
        ["octavo / best peer"]
    rows = []
    for w in WORKLOADS:
        for n in counts:
            times = {e: results[(e, n)].get(w) for e in engines}
            ups = []
            for e in engines:
                base, cur = results[(e, counts[0])].get(w), times[e]
                ups.append(f"{base / cur:.2f}x" if base and cur else "-")
            peers = [times[e] for e in engines if e != "octavo" and times[e]]
            ratio = f"{times['octavo'] / min(peers):.2f}" if peers and times.get("octavo") else "-"
            rows.append([w, str(n)] + [fmt_s(times[e]) for e in engines] + ups + [ratio])
    print_table(headers, rows)
    if args.markdown:
        print()
        print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
