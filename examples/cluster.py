"""Handing a bundle to a cluster: dask dataframes and arrays, xarray, plain read tasks, Delta.

A bundle is a directory every worker can open read-only (a shared file system on a real
cluster). What is handed over is the bundle path and a commit id: each task opens the bundle
at that commit and reads its own piece through octavo, so the plan stays valid while writers
go on committing.

    python examples/cluster.py [WORKDIR] [--rows N] [--workers W]

It writes a sorted trace table and a 3-D volume with named dimensions, starts a
dask.distributed LocalCluster of worker processes, and reads both back on it: a dataframe with
a filter pushed into each partition's read and known divisions, an xarray Dataset and DataTree
through the octavo engine, a dask array on the stored chunk grid, and the same table through
read tasks for any executor. bench/bench_dask.py times these paths against dask's and
zarr-python's own readers.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
import pyarrow as pa


def build(path: str, rows: int) -> None:
    import octavo

    rng = np.random.default_rng(3)
    trace = rng.permutation(rows).astype(np.int64)
    with octavo.open(path, "w") as b:
        b.add_table("/survey/traces", pa.table({
            "trace": trace, "cdp": (trace // 48).astype(np.int32),
            "offset": rng.uniform(-3000, 3000, rows).astype(np.float32),
            "amplitude": rng.normal(0, 1, rows)}), part_max_rows=max(1, rows // 4))
        b.table("/survey/traces").sort_by("trace", row_group_size=max(1, rows // 16))
        vol = np.sin(np.arange(32 * 40 * 48, dtype=np.float32) / 500).reshape(32, 40, 48)
        b.create_array("/survey/volume", vol, chunks=(8, 20, 48),
                       attrs={"_ARRAY_DIMENSIONS": ["z", "y", "x"], "units": "m/s"})
        b.create_array("/survey/z", np.arange(32) * 4.0, attrs={"_ARRAY_DIMENSIONS": ["z"], "units": "m"})
        b["/survey"].attrs["title"] = "example survey"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workdir", nargs="?", help="where to write the bundle (default: a temporary directory)")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    import xarray as xr
    from distributed import Client, LocalCluster

    import octavo
    import octavo.dask

    workdir = args.workdir or tempfile.mkdtemp(prefix="octavo-cluster-")
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "survey.octavo")
    build(path, args.rows)
    with octavo.open(path) as b:
        commit = b.commit["id"]
        delta = b.get_delta_path("/survey/traces")
        parts = b.get_table_path("/survey/traces")
    print(f"bundle {path}: commit {commit}, {args.rows} traces in {len(parts)} parts, Delta table at {delta}")

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        print(f"cluster: {len(client.scheduler_info()['workers'])} worker processes")

        # 1. A dask DataFrame: one partition per part, the filter evaluated in each worker's read.
        ddf = octavo.dask.read_table(path, "/survey/traces", columns=["cdp", "amplitude"],
                                     where="(offset > -500) & (offset < 500)", commit=commit)
        print(f"traces: {ddf.npartitions} partitions, index {ddf.index.name!r}, known divisions: "
              f"{ddf.known_divisions}")
        near = ddf.groupby("cdp")["amplitude"].mean().compute()
        print(f"near-offset mean amplitude over {len(near)} CDPs: {float(near.mean()):+.4f}")
        traces = octavo.dask.read_table(path, "/survey/traces", columns=["offset"], commit=commit)
        one = traces.loc[1234]  # known divisions: only the partition that can hold trace 1234 is read
        print(f"trace 1234: offset {float(one.compute()['offset'].iloc[0]):.1f} m, read from {one.npartitions} "
              f"of {traces.npartitions} partitions")

        # 2. xarray: the group's arrays, lazily; chunks={} gives dask arrays on the stored chunk grid.
        ds = xr.open_dataset(path, engine="octavo", group="/survey", chunks={})
        print(f"dataset: {dict(ds.sizes)}, volume chunks {ds['volume'].chunks}, title {ds.attrs['title']!r}")
        profile = ds["volume"].sel(z=slice(40.0, 80.0)).mean(dim=("y", "x")).compute()
        print(f"mean velocity at z=40..80 m: {[round(float(v), 3) for v in profile.values]}")
        ds.close()
        tree = xr.open_datatree(path, engine="octavo")
        print(f"datatree groups: {sorted(tree.groups)}")
        tree.close()

        # 3. The array as a dask array (through its Zarr store), summed on the workers.
        with octavo.open(path, commit=commit) as b:
            vol = b["/survey/volume"].to_dask()
        print(f"volume as dask: chunks {vol.chunksize}, sum {float(vol.sum().compute()):.3f}")

        # 4. Read tasks for any executor (Ray: ray.get([ray.remote(lambda t: t()).remote(t) for t in tasks])).
        tasks = octavo.dask.read_tasks(path, "/survey/traces", columns=["trace"], where="cdp < 10", commit=commit)
        got = pa.concat_tables(client.gather(client.map(lambda task: task(), tasks)))
        print(f"read tasks: {len(tasks)} tasks, {got.num_rows} traces with cdp < 10")
    return 0


if __name__ == "__main__":
    sys.exit(main())
