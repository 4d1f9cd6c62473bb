#!/usr/bin/env python3
"""Issue 18: tables through octavo.dask vs dask.dataframe.read_parquet, and a sub-cube through
xarray's octavo engine vs xarray on zarr-python's own store.

Tables: one table of ``--rows`` rows (id int64 ascending, x/y float64, cat int32) written by
octavo in parts of ``--part-rows`` rows. On a dask.distributed LocalCluster of ``--workers``
processes with ``--threads`` threads each, the same queries run through

  octavo  octavo.dask.read_table(bundle, "/t", columns=, where=): each task reads its part
          through octavo, the condition evaluated (and pushed down) in the read
  dask    dask.dataframe.read_parquet(the same part files, from bundle.get_table_path("/t"),
          columns=, filters=) plus the same condition as a dask mask

  sum        sum of column x (every row of one column)
  where_sel  rows with y > 0.999 and cat == 3, counted (statistics cannot skip: random y)
  where_id   rows with id in a 1 % range, counted (sorted id: whole parts/row groups skipped)

Arrays: a float32 cube (``--cube`` per side, chunks ``--chunk``) written by octavo (zstd) and by
xarray's to_zarr to a zarr-python LocalStore (zstd, same chunks); open_dataset, then a sub-cube
(a z slab, a y window, every second x) loaded with .values, in this process. octavo runs with its
decoded-chunk cache off (as zarr-python, which has none), then with its default 32 MiB cache
("octavo+cache": repeated reads of the same chunks come from memory).

    python3 bench/bench_dask.py                     # 10M rows, cube 256
    python3 bench/bench_dask.py --rows 100000000    # the issue's size (needs ~10 GB of disk, minutes)
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_of  # noqa: E402


def write_table(path: str, rows: int, part_rows: int) -> list[str]:
    import pyarrow as pa

    import octavo

    rng = np.random.default_rng(11)
    with octavo.open(path, "w") as b:
        start = 0
        while start < rows:
            n = min(part_rows, rows - start)
            t = pa.table({"id": np.arange(start, start + n, dtype=np.int64), "x": rng.random(n),
                          "y": rng.random(n), "cat": rng.integers(0, 10, n, dtype=np.int32)})
            if start == 0:
                b.add_table("t", t, part_max_rows=part_rows)
            else:
                b.append_table("t", t)
            start += n
        return b.get_table_path("t")


def table_queries(bundle: str, files: list[str], rows: int, repeat: int) -> list[tuple[str, str, float, object]]:
    import dask.dataframe as dd

    import octavo.dask

    lo, hi = rows // 2, rows // 2 + rows // 100
    queries = {
        "sum": (["x"], None, None, lambda df: df["x"].sum()),
        "where_sel": (["y", "cat"], "(y > 0.999) & (cat == 3)", [("y", ">", 0.999), ("cat", "==", 3)],
                      lambda df: df.shape[0]),
        "where_id": (["id", "x"], f"(id >= {lo}) & (id < {hi})", [("id", ">=", lo), ("id", "<", hi)],
                     lambda df: df.shape[0]),
    }
    out = []
    for q, (cols, where, filters, agg) in queries.items():
        def run_octavo():
            return agg(octavo.dask.read_table(bundle, "/t", columns=cols, where=where, index=False)).compute()

        def run_dask():
            df = dd.read_parquet(files, columns=cols, filters=filters)
            if q == "where_sel":
                df = df[(df["y"] > 0.999) & (df["cat"] == 3)]
            elif q == "where_id":
                df = df[(df["id"] >= lo) & (df["id"] < hi)]
            return agg(df).compute()

        for name, fn in (("octavo", run_octavo), ("dask", run_dask)):
            result = fn()
            out.append((q, name, best_of(fn, repeat), result))
    return out


def cube_queries(workdir: str, n: int, chunk: int, repeat: int) -> list[tuple[str, str, float, object]]:
    import xarray as xr
    import zarr

    import octavo
    from octavo.xarray_backend import OctavoBackendEntrypoint  # = engine="octavo", installed or not

    data = np.random.default_rng(5).standard_normal((n, n, n)).astype(np.float32)
    bpath, zpath = os.path.join(workdir, "cube.octavo"), os.path.join(workdir, "cube.zarr")
    with octavo.open(bpath, "w") as b:
        b.create_array("/v/cube", data, chunks=(chunk,) * 3, compressor="zstd",
                       attrs={"_ARRAY_DIMENSIONS": ["z", "y", "x"]})
    ds = xr.Dataset({"cube": (("z", "y", "x"), data)})
    ds.to_zarr(zpath, mode="w", zarr_format=3, consolidated=False,
               encoding={"cube": {"chunks": (chunk,) * 3, "compressors": [zarr.codecs.ZstdCodec()]}})
    sub = {"z": slice(n // 3, n // 3 + chunk // 2), "y": slice(n // 8, n - n // 8), "x": slice(0, n, 2)}
    want = data[sub["z"], sub["y"], sub["x"]]
    out = []
    cache = octavo.array.chunk_cache_size()
    for name, opener, cache_size in (
            ("octavo", lambda: xr.open_dataset(bpath, engine=OctavoBackendEntrypoint, group="/v"), 0),
            ("octavo+cache", lambda: xr.open_dataset(bpath, engine=OctavoBackendEntrypoint, group="/v"), cache),
            ("zarr", lambda: xr.open_dataset(zpath, engine="zarr", consolidated=False), 0)):
        octavo.array.set_chunk_cache_size(cache_size)  # octavo's decoded-chunk cache: off, then its default

        def run():
            with opener() as d:
                return d["cube"].isel(sub).values

        got = run()
        assert np.array_equal(got, want), name
        out.append(("subcube", name, best_of(run, repeat), got.shape))
        if name != "octavo+cache":
            out.append(("open", name, best_of(lambda: opener().close(), repeat), None))
    octavo.array.set_chunk_cache_size(cache)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--part-rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per worker")
    ap.add_argument("--cube", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", help="work directory (default: a temporary one, removed after)")
    ap.add_argument("--skip-tables", action="store_true")
    ap.add_argument("--skip-cube", action="store_true")
    args = ap.parse_args()

    import dask
    import xarray as xr
    from distributed import Client, LocalCluster

    import octavo

    workdir = args.dir or tempfile.mkdtemp(prefix="bench-dask-")
    os.makedirs(workdir, exist_ok=True)
    print(f"# bench_dask: rows={args.rows:,} part_rows={args.part_rows:,} workers={args.workers} "
          f"threads/worker={args.threads} cube={args.cube}^3 chunk={args.chunk}^3 repeat={args.repeat} "
          f"cpus={os.cpu_count()} octavo threads={octavo.get_num_threads()} load={os.getloadavg()[0]:.1f} "
          f"dask {dask.__version__} xarray {xr.__version__}")
    rows: list[tuple[str, str, float, object]] = []
    try:
        if not args.skip_tables:
            bundle = os.path.join(workdir, "table.octavo")
            t0 = time.perf_counter()
            files = write_table(bundle, args.rows, args.part_rows)
            print(f"# wrote {len(files)} parts in {time.perf_counter() - t0:.1f} s")
            with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                              dashboard_address=":0") as cluster, Client(cluster):
                rows += table_queries(bundle, files, args.rows, args.repeat)
        if not args.skip_cube:
            rows += cube_queries(workdir, args.cube, args.chunk, args.repeat)
    finally:
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"| query | reader | best of {args.repeat} (s) | result |")
    print("| --- | --- | ---: | --- |")
    for q, name, secs, result in rows:
        print(f"| {q} | {name} | {secs:.3f} | {result if result is not None else ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
