"""The cluster-telemetry workload (issue 17): monthly SQLite databases -> analysis.

    python3 bench/bench_telemetry.py [--rows 1000000] [--repeat 2]

Data: examples/gpu_usage.py's generator (three months with --rows rows in all, ~2,000 GPUs
reported every 5 minutes, 3 % reported twice, NULL users and loads, plus an empty month).
Analysis: examples/gpu_usage.py (filter, ranked de-duplication, 15-minute buckets, distinct
counts and means). Each run is a fresh Python process; time is its wall time after imports,
memory its peak-RSS growth (VmHWM reset after imports).

  first load + analysis:  pandas read_sql_query + pandas | polars read_database + polars |
                          octavo import_sqlite (C++) + DuckDB over the bundle (bundle.sql)
  repeat analysis:        octavo bundle.sql on the imported bundle | the same polars plan on
                          bundle.scan (octavo's scanner) | polars scan_parquet on a plain
                          Parquet file of the same rows

Every tool's result is checked against pandas' (same buckets, counts, means to 1e-9).
Results: printed, and as markdown in bench/data/telemetry_<rows>.md (docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "examples"))

import common  # noqa: E402


def _records(df):
    df = df.reset_index(drop=True)
    return {"bucket": [str(x) for x in df["bucket"]], "claimed_gpus": [int(x) for x in df["claimed_gpus"]],
            "gpus": [int(x) for x in df["gpus"]], "mean_load": [float(x) for x in df["mean_load"]]}


# --- workloads, each run in a fresh process by common.run_in_fresh_process ------------------

def w_pandas(probe, paths):
    import gpu_usage
    import pandas  # noqa: F401

    probe.mark()
    return _records(gpu_usage.analyze_pandas(gpu_usage.load_pandas(paths)))


def w_polars(probe, paths):
    import gpu_usage
    import polars  # noqa: F401

    probe.mark()
    return _records(gpu_usage.analyze_polars(gpu_usage.load_polars(paths).lazy()))


def w_octavo_first(probe, paths, bundle_path):
    import duckdb  # noqa: F401  (library imports before the mark, as for the peers)
    import gpu_usage
    import pandas  # noqa: F401

    import octavo

    shutil.rmtree(bundle_path, ignore_errors=True)
    probe.mark()
    with octavo.open(bundle_path, "w") as b:
        b.import_sqlite(paths, "/gpu_state", table="gpu_state")
        return _records(gpu_usage.analyze_octavo(b))


def w_octavo_repeat(probe, bundle_path):
    import gpu_usage

    import octavo

    b = octavo.open(bundle_path)
    b.sql("SELECT 1", return_type="pandas")  # DuckDB loaded: imports, not the workload
    probe.mark()
    return _records(gpu_usage.analyze_octavo(b))


def w_octavo_scan(probe, bundle_path):
    import gpu_usage
    import polars  # noqa: F401

    import octavo

    b = octavo.open(bundle_path)
    probe.mark()
    return _records(gpu_usage.analyze_polars(b.scan("/gpu_state")))


def w_polars_parquet(probe, parquet_path):
    import gpu_usage
    import polars as pl

    probe.mark()
    return _records(gpu_usage.analyze_polars(pl.scan_parquet(parquet_path)))


def write_parquet(paths, out):
    import gpu_usage

    if not os.path.exists(out):
        df = gpu_usage.load_polars(paths)
        import polars as pl

        df.with_columns(pl.col("timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us"),
                        *[pl.col(c).cast(pl.Boolean) for c in ("priority", "shared", "backfill")]).write_parquet(out)


def same(a, b) -> bool:
    import gpu_usage
    import pandas as pd

    return gpu_usage.same_result(pd.DataFrame(a), pd.DataFrame(b))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs per tool (best time and lowest memory kept)")
    args = ap.parse_args()
    import gpu_usage

    work = os.path.join(common.DATA_DIR, f"telemetry_{args.rows}")
    os.makedirs(work, exist_ok=True)
    paths = gpu_usage.make_databases(work, args.rows)
    bundle_path = os.path.join(work, "gpu.octavo")
    parquet_path = os.path.join(work, "gpu_state.parquet")
    write_parquet(paths, parquet_path)
    db_bytes = sum(os.path.getsize(p) for p in paths)

    runs = {
        "first": [("pandas (read_sql_query)", "w_pandas", [paths]),
                  ("polars (read_database)", "w_polars", [paths]),
                  ("octavo (import_sqlite + bundle.sql)", "w_octavo_first", [paths, bundle_path])],
        "repeat": [("octavo (bundle.sql)", "w_octavo_repeat", [bundle_path]),
                   ("octavo (bundle.scan + polars)", "w_octavo_scan", [bundle_path]),
                   ("polars (scan_parquet)", "w_polars_parquet", [parquet_path])],
    }
    results, reference = {}, None
    for phase, tools in runs.items():
        for name, func, fargs in tools:
            best = None
            for _ in range(max(1, args.repeat)):
                r = common.run_in_fresh_process("bench_telemetry", func, *fargs)
                if reference is None:
                    reference = r["result"]
                elif not same(reference, r["result"]):
                    raise SystemExit(f"{name}: result differs from pandas'")
                if best is None:
                    best = r
                else:
                    best = {"seconds": min(best["seconds"], r["seconds"]), "delta_rss": min(best["delta_rss"], r["delta_rss"])}
            results[(phase, name)] = best
            print(f"{phase:7s} {name:40s} {best['seconds']:8.2f} s  {best['delta_rss'] / 2**20:8.0f} MiB", flush=True)

    rows = sum(1 for _ in reference["bucket"])
    lines = [f"Telemetry workload, {args.rows:,} rows in 3 monthly SQLite databases + 1 empty "
             f"({db_bytes / 2**20:.0f} MiB), {rows:,} 15-minute buckets; best of {args.repeat} fresh processes.",
             "", "| phase | tool | time (s) | peak RSS growth (MiB) |", "|---|---|---:|---:|"]
    for (phase, name), r in results.items():
        lines.append(f"| {phase} | {name} | {r['seconds']:.2f} | {r['delta_rss'] / 2**20:.0f} |")
    lines.append("")
    lines.append("All results identical (buckets, distinct counts; means to 1e-9).")
    md = "\n".join(lines)
    out = os.path.join(common.DATA_DIR, f"telemetry_{args.rows}.md")
    with open(out, "w") as f:
        f.write(md + "\n")
    with open(out.replace(".md", ".json"), "w") as f:
        json.dump({f"{k[0]}/{k[1]}": v for k, v in results.items()}, f, indent=1)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
