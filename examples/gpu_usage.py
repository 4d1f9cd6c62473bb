"""Cluster GPU usage, end to end: monthly SQLite databases -> one octavo table -> analysis.

A GPU-usage collector keeps one SQLite database per month (text timestamps, host, slot, GPU
id, state Claimed/Unclaimed, user, priority/shared/backfill flags, device name). The analysis:
a complex filter, de-duplication by rank (a GPU seen Claimed and Unclaimed at the same time
counts as Claimed), 15-minute buckets, and per bucket the number of distinct claimed GPUs,
distinct GPUs and the mean load.

    python examples/gpu_usage.py [WORKDIR] [--rows N]

It writes three monthly databases (plus an empty month), imports them into a bundle in one
commit (C++, `bundle.import_sqlite`), runs the analysis with DuckDB over the bundle
(`bundle.sql`) and with polars over the bundle (`bundle.scan`), and checks the result against
pandas (`read_sql_query`) and polars (`read_database`). bench/bench_telemetry.py times the same functions.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile

import numpy as np

SCHEMA = ("CREATE TABLE gpu_state (timestamp TEXT, host TEXT, slot TEXT, gpu_id TEXT, state TEXT, user TEXT, "
          "priority BOOLEAN, shared BOOLEAN, backfill BOOLEAN, device TEXT, load REAL)")
MONTHS = ["2025-09", "2025-10", "2025-11"]
DEVICES = ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA L40S", "Tesla V100-SXM2-32GB"]


def make_month(path: str, month: str, rows: int, seed: int, n_gpus: int = 2000) -> int:
    """One month's database with about `rows` rows: every GPU at each snapshot (one every
    5 minutes), 3 % of GPUs reported twice (Claimed and Unclaimed), NULL users for
    unclaimed GPUs, some NULL loads and device names, 5 % glidein hosts."""
    rng = np.random.default_rng(seed)
    dup = 0.03
    per_snapshot = int(n_gpus * (1 + dup))
    snapshots = max(1, rows // per_snapshot)
    start = np.datetime64(f"{month}-01T00:00:00")
    step = np.timedelta64(300, "s")  # a snapshot every 5 minutes from the month's start
    gpu = np.arange(n_gpus)
    host = np.array([("glidein-%04d" if h % 20 == 0 else "node%04d") % h for h in gpu // 8], dtype=object)
    slot = np.array([f"slot1_{k}" for k in gpu % 8], dtype=object)
    gpu_id = np.array([f"GPU-{g:05x}" for g in gpu], dtype=object)
    device = np.array([DEVICES[g % len(DEVICES)] if g % 200 else None for g in gpu], dtype=object)
    priority = (gpu % 5 == 0).astype(np.int64)
    shared = (gpu % 7 == 0).astype(np.int64)
    con = sqlite3.connect(path)
    con.execute(SCHEMA)
    total = 0
    for s in range(snapshots):
        ts = str(start + s * step).replace("T", " ")
        claimed = rng.random(n_gpus) < 0.7
        twice = np.flatnonzero(rng.random(n_gpus) < dup)
        idx = np.concatenate([gpu, twice])
        state = np.where(np.concatenate([claimed, ~claimed[twice]]), "Claimed", "Unclaimed")
        users = np.where(state == "Claimed", np.char.add("user", (idx % 37).astype(str)), None)
        load = np.round(rng.random(len(idx)), 3).astype(object)
        load[rng.random(len(idx)) < 0.02] = None
        backfill = (rng.random(len(idx)) < 0.1).astype(np.int64)
        con.executemany("INSERT INTO gpu_state VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        zip([ts] * len(idx), host[idx], slot[idx], gpu_id[idx], state, users,
                            priority[idx].tolist(), shared[idx].tolist(), backfill.tolist(), device[idx], load, strict=True))
        total += len(idx)
    con.commit()
    con.close()
    return total


def make_databases(workdir: str, rows: int) -> list[str]:
    """Three months with `rows` rows in all, then an empty month (the collector was down)."""
    paths = []
    for k, m in enumerate(MONTHS):
        p = os.path.join(workdir, f"gpu_state_{m}.db")
        if not os.path.exists(p):
            make_month(p, m, rows // len(MONTHS), seed=k)
        paths.append(p)
    empty = os.path.join(workdir, "gpu_state_2025-12.db")
    if not os.path.exists(empty):
        con = sqlite3.connect(empty)
        con.execute(SCHEMA)
        con.close()
    paths.append(empty)
    return paths


# --- the analysis, three ways ---------------------------------------------------------------

SQL = """
WITH f AS (
  SELECT * FROM gpu_state
  WHERE device IS NOT NULL AND NOT starts_with(host, 'glidein')
    AND ((state = 'Claimed' AND (priority OR NOT backfill)) OR (state = 'Unclaimed' AND NOT shared))
), r AS (
  SELECT *, row_number() OVER (PARTITION BY "timestamp", gpu_id
                               ORDER BY CASE WHEN state = 'Claimed' THEN 0 ELSE 1 END) AS rn
  FROM f
)
SELECT time_bucket(INTERVAL '15 minutes', "timestamp") AS bucket,
       count(DISTINCT gpu_id) FILTER (WHERE state = 'Claimed') AS claimed_gpus,
       count(DISTINCT gpu_id) AS gpus,
       avg(load) AS mean_load
FROM r WHERE rn = 1 GROUP BY bucket ORDER BY bucket
"""


def analyze_octavo(bundle):
    """DuckDB over the bundle's table (Parquet parts, projection and filters pushed down)."""
    return bundle.sql(SQL, return_type="pandas")


def analyze_pandas(df):
    import pandas as pd

    df = df.assign(timestamp=pd.to_datetime(df["timestamp"]))
    keep = (df["device"].notna() & ~df["host"].str.startswith("glidein")
            & (((df["state"] == "Claimed") & ((df["priority"] == 1) | (df["backfill"] == 0)))
               | ((df["state"] == "Unclaimed") & (df["shared"] == 0))))
    df = df[keep].assign(rank=lambda d: (d["state"] != "Claimed").astype(int))
    df = df.sort_values(["timestamp", "gpu_id", "rank"]).drop_duplicates(["timestamp", "gpu_id"], keep="first")
    df = df.assign(bucket=df["timestamp"].dt.floor("15min"))
    g = df.groupby("bucket")
    out = pd.DataFrame({
        "claimed_gpus": df[df["state"] == "Claimed"].groupby("bucket")["gpu_id"].nunique(),
        "gpus": g["gpu_id"].nunique(),
        "mean_load": g["load"].mean(),
    })
    out["claimed_gpus"] = out["claimed_gpus"].fillna(0).astype("int64")
    return out.reset_index()


def analyze_polars(lf):
    import polars as pl

    if lf.collect_schema()["timestamp"] == pl.String:
        lf = lf.with_columns(pl.col("timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us"))
    flag = lambda c: pl.col(c).cast(pl.Boolean)  # noqa: E731 (0/1 from SQLite, bool from Parquet)
    keep = (pl.col("device").is_not_null() & ~pl.col("host").str.starts_with("glidein")
            & (((pl.col("state") == "Claimed") & (flag("priority") | ~flag("backfill")))
               | ((pl.col("state") == "Unclaimed") & ~flag("shared"))))
    out = (lf.filter(keep)
           .with_columns(rank=(pl.col("state") != "Claimed").cast(pl.Int8))
           .sort(["timestamp", "gpu_id", "rank"])
           .unique(["timestamp", "gpu_id"], keep="first", maintain_order=True)
           .with_columns(bucket=pl.col("timestamp").dt.truncate("15m"))
           .group_by("bucket")
           .agg(claimed_gpus=pl.col("gpu_id").filter(pl.col("state") == "Claimed").n_unique(),
                gpus=pl.col("gpu_id").n_unique(),
                mean_load=pl.col("load").mean())
           .sort("bucket"))
    return out.collect().to_pandas()


def load_pandas(paths):
    import pandas as pd

    frames = []
    for p in paths:
        with sqlite3.connect(p) as con:
            frames.append(pd.read_sql_query("SELECT * FROM gpu_state", con))
    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def load_polars(paths):
    import polars as pl

    frames = []
    for p in paths:
        with sqlite3.connect(p) as con:
            frames.append(pl.read_database("SELECT * FROM gpu_state", connection=con,
                                           schema_overrides={"load": pl.Float64, "user": pl.String}))
    return pl.concat([f for f in frames if f.height], how="vertical_relaxed")


def same_result(a, b) -> bool:
    """Equal bucket by bucket (counts exactly, means to 1e-9)."""
    import pandas as pd

    a = a.reset_index(drop=True)
    b = b.reset_index(drop=True)
    if len(a) != len(b):
        return False
    if not (pd.to_datetime(a["bucket"]).dt.tz_localize(None).values
            == pd.to_datetime(b["bucket"]).dt.tz_localize(None).values).all():
        return False
    for c in ("claimed_gpus", "gpus"):
        if not (a[c].astype("int64").values == b[c].astype("int64").values).all():
            return False
    return bool(np.allclose(a["mean_load"].astype(float), b["mean_load"].astype(float), rtol=0, atol=1e-9,
                            equal_nan=True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workdir", nargs="?", default=None)
    ap.add_argument("--rows", type=int, default=60_000, help="rows in the three months together")
    args = ap.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="gpu_usage_")
    os.makedirs(workdir, exist_ok=True)

    import octavo

    paths = make_databases(workdir, args.rows)
    print(f"databases: {', '.join(os.path.basename(p) for p in paths)}")
    bundle_path = os.path.join(workdir, "gpu.octavo")
    with octavo.open(bundle_path, "w") as b:
        rep = b.import_sqlite(paths, "/gpu_state", table="gpu_state")
        print(f"imported {rep['rows']:,} rows from {len(rep['files'])} databases in commit {rep['commit']}")
        print("schema:", ", ".join(f"{f.name}: {f.type}" for f in b.table("/gpu_state").schema))
        # the collector ran again: nothing new, nothing duplicated
        again = b.import_sqlite(paths[-2], "/gpu_state", table="gpu_state", append=True, since="timestamp")
        print(f"incremental sync of {os.path.basename(paths[-2])}: {again['rows']} new rows")
        result = analyze_octavo(b)
        ok_scan = same_result(result, analyze_polars(b.scan("/gpu_state")))  # polars over octavo's scanner
    print(f"{len(result)} 15-minute buckets; first rows:\n{result.head(4).to_string(index=False)}")
    ok_pd = same_result(result, analyze_pandas(load_pandas(paths)))
    ok_pl = same_result(result, analyze_polars(load_polars(paths).lazy()))
    print(f"same result as pandas read_sql_query: {ok_pd}; as polars read_database: {ok_pl}; "
          f"as polars over bundle.scan: {ok_scan}")
    return 0 if ok_pd and ok_pl and ok_scan else 1


if __name__ == "__main__":
    sys.exit(main())
