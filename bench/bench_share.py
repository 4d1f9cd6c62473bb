#!/usr/bin/env python3
"""Issue 16: load a trace-header table once and share it with worker processes.

A SEG-Y-like header table (12 int32/int64/float32 columns) and an ensemble index (start/end
trace of each ensemble). Each of W workers computes per-ensemble sums of every column over its
share of the ensembles. Methods (under fork and spawn; the COW globals under fork only):

  pandas       every worker pd.read_parquet()s the headers and the index
  polars       every worker pl.read_parquet()s them
  cow_pandas   the parent reads them with pandas into module globals, then forks (the seed)
  cow_polars   the same with polars frames
  ipc_mmap     the parent writes an Arrow IPC file to /dev/shm by hand; workers pa.memory_map it
  octavo       the parent octavo.share()s the bundle tables; workers octavo.attach()
  octavo_populate  the same, attach(populate=True): pages mapped at attach, not on first touch

Measured: total PSS (sum of Pss in /proc/PID/smaps_rollup over the parent and the workers,
sampled once every worker has its result and before any exits), the time from the start (parent
loading included) to the first and to the last result, and per worker the load / attach time
and the computation time (wall and CPU). A `baseline` run (workers import the same libraries, load nothing)
gives the interpreters' own PSS.

    python3 bench/bench_share.py                 # 5M rows, 4 workers
    python3 bench/bench_share.py --rows 1000000 --workers 2
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time

import numpy as np

COLUMNS = ["trace", "field_record", "trace_in_record", "cdp", "cdp_trace", "offset", "source_x", "source_y",
           "cdp_x", "cdp_y", "elevation", "scalar"]
# Every column is summed, so every page of the shared data is touched and counted in PSS (a
# segment page nobody maps would be counted by no process).
SUM_COLUMNS = COLUMNS
_G: dict = {}  # the COW globals


def make_data(rows: int, per_ensemble: int, seed: int = 7):
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    trace = np.arange(rows, dtype=np.int64)
    cdp = (trace // per_ensemble).astype(np.int32)
    cols = {
        "trace": trace,
        "field_record": (trace // 480).astype(np.int32),
        "trace_in_record": (trace % 480).astype(np.int32),
        "cdp": cdp,
        "cdp_trace": (trace % per_ensemble).astype(np.int32),
        "offset": rng.uniform(-3000, 3000, rows).astype(np.float32),
        "source_x": rng.integers(0, 1 << 30, rows, dtype=np.int64),
        "source_y": rng.integers(0, 1 << 30, rows, dtype=np.int64),
        "cdp_x": rng.uniform(0, 1e6, rows).astype(np.float32),
        "cdp_y": rng.uniform(0, 1e6, rows).astype(np.float32),
        "elevation": rng.normal(100, 5, rows).astype(np.float32),
        "scalar": np.full(rows, -100, dtype=np.int32),
    }
    n_ens = int(cdp[-1]) + 1
    start = np.arange(n_ens, dtype=np.int64) * per_ensemble
    ens = {"ensemble_key": np.arange(n_ens, dtype=np.int32), "start_trace": start,
           "end_trace": np.minimum(start + per_ensemble, rows) - 1}
    return pa.table(cols), pa.table(ens)


def pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


# --- worker side --------------------------------------------------------------------------------
def _load(method: str, arg):
    """{column: numpy} for SUM_COLUMNS and (start, end) arrays of the ensemble index."""
    if method == "pandas":
        import pandas as pd

        h = pd.read_parquet(arg["headers"], columns=SUM_COLUMNS)
        e = pd.read_parquet(arg["ensembles"])
        return {c: h[c].to_numpy() for c in SUM_COLUMNS}, e["start_trace"].to_numpy(), e["end_trace"].to_numpy(), (h, e)
    if method == "polars":
        import polars as pl

        h = pl.read_parquet(arg["headers"], columns=SUM_COLUMNS)
        e = pl.read_parquet(arg["ensembles"])
        return {c: h[c].to_numpy() for c in SUM_COLUMNS}, e["start_trace"].to_numpy(), e["end_trace"].to_numpy(), (h, e)
    if method in ("cow_pandas", "cow_polars"):
        h, e = _G["headers"], _G["ensembles"]
        return {c: h[c].to_numpy() for c in SUM_COLUMNS}, e["start_trace"].to_numpy(), e["end_trace"].to_numpy(), None
    if method == "ipc_mmap":
        import pyarrow as pa

        h = pa.ipc.open_file(pa.memory_map(arg["headers"])).read_all()
        e = pa.ipc.open_file(pa.memory_map(arg["ensembles"])).read_all()
        return ({c: h.column(c).chunk(0).to_numpy() for c in SUM_COLUMNS}, e.column("start_trace").chunk(0).to_numpy(),
                e.column("end_trace").chunk(0).to_numpy(), (h, e))
    if method in ("octavo", "octavo_populate"):
        import octavo

        populate = method == "octavo_populate"
        h = octavo.attach(arg["headers"], populate=populate)
        e = octavo.attach(arg["ensembles"], populate=populate)
        return ({c: h.column(c).to_numpy() for c in SUM_COLUMNS}, e.column("start_trace").to_numpy(),
                e.column("end_trace").to_numpy(), (h, e))
    raise ValueError(method)


def worker(method, arg, k, workers, queue, done):
    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow  # noqa: F401  (every method's worker has the same libraries loaded)

    import octavo  # noqa: F401

    if method == "baseline":
        queue.put((k, os.getpid(), 0.0, 0.0, time.perf_counter(), 0.0, 0.0))
        done.wait()
        return
    t0 = time.perf_counter()
    cols, start, end, keep = _load(method, arg)
    t1 = time.perf_counter()
    c1 = time.process_time()  # CPU time too: 4 workers computing at once on 2 cores inflate wall time
    n = len(start)
    lo_e, hi_e = n * k // workers, n * (k + 1) // workers
    lo, hi = int(start[lo_e]), int(end[hi_e - 1]) + 1
    idx = start[lo_e:hi_e] - lo
    checksum = 0.0
    for c in SUM_COLUMNS:
        checksum += float(np.add.reduceat(cols[c][lo:hi], idx, dtype=np.float64).sum())
    t2 = time.perf_counter()
    queue.put((k, os.getpid(), t1 - t0, t2 - t1, t2, checksum, time.process_time() - c1))
    done.wait()
    del keep


# --- parent side --------------------------------------------------------------------------------
def prepare(method: str, paths: dict, shm_dir: str):
    """What the parent does before starting workers; returns (worker arg, cleanup)."""
    if method in ("pandas", "polars", "baseline"):
        return {"headers": paths["headers_pq"], "ensembles": paths["ensembles_pq"]}, lambda: None
    if method == "cow_pandas":
        import pandas as pd

        _G["headers"] = pd.read_parquet(paths["headers_pq"])
        _G["ensembles"] = pd.read_parquet(paths["ensembles_pq"])
        return None, _G.clear
    if method == "cow_polars":
        import polars as pl

        _G["headers"] = pl.read_parquet(paths["headers_pq"])
        _G["ensembles"] = pl.read_parquet(paths["ensembles_pq"])
        return None, _G.clear
    if method == "ipc_mmap":
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = {}
        for name in ("headers", "ensembles"):
            t = pq.read_table(paths[name + "_pq"]).combine_chunks()
            p = os.path.join(shm_dir, f"bench-{os.getpid()}-{name}.arrow")
            with pa.OSFile(p, "wb") as f, pa.ipc.new_file(f, t.schema) as w:
                w.write_table(t)
            out[name] = p
            del t
        pa.default_memory_pool().release_unused()  # as octavo.share does: no retained copy in the parent
        return out, lambda: [os.remove(p) for p in out.values()]
    if method in ("octavo", "octavo_populate"):
        import octavo

        b = octavo.open(paths["bundle"], "r")
        h = octavo.share(b["/headers"], directory=shm_dir)
        e = octavo.share(b["/ensembles"], directory=shm_dir)
        b.close()
        return {"headers": h.handle, "ensembles": e.handle}, lambda: (h.close(), e.close())
    raise ValueError(method)


def run(method: str, start_method: str, workers: int, paths: dict, shm_dir: str) -> dict:
    ctx = mp.get_context(start_method)
    queue, done = ctx.Queue(), ctx.Event()
    t0 = time.perf_counter()
    arg, cleanup = prepare(method, paths, shm_dir)
    t_ready = time.perf_counter()
    procs = [ctx.Process(target=worker, args=(method, arg, k, workers, queue, done)) for k in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    pss = pss_kib(os.getpid()) + sum(pss_kib(p.pid) for p in procs)
    done.set()
    for p in procs:
        p.join()
    cleanup()
    ends = sorted(r[4] for r in results)
    return {
        "method": method, "start": start_method, "workers": workers,
        "parent_prepare_s": t_ready - t0,
        "first_result_s": ends[0] - t0, "total_s": ends[-1] - t0,
        "load_s_median": float(np.median([r[2] for r in results])),
        "compute_s_median": float(np.median([r[3] for r in results])),
        "compute_cpu_s_median": float(np.median([r[6] for r in results])),
        "pss_mib": pss / 1024,
        "checksum": sum(r[5] for r in results),
    }


def attach_times(paths: dict, shm_dir: str, repeat: int = 20) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import octavo

    with octavo.open(paths["bundle"], "r") as b:
        shared = octavo.share(b["/headers"], directory=shm_dir)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        v = octavo.attach(shared.handle)
        _ = v.column("offset").to_numpy()
        best = min(best, time.perf_counter() - t)
        del v
    t = time.perf_counter()
    octavo.attach(shared.handle, verify=True)
    verify = time.perf_counter() - t
    populate = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        v = octavo.attach(shared.handle, populate=True)
        populate = min(populate, time.perf_counter() - t)
        del v
    size = shared.size_bytes
    shared.close()
    p = os.path.join(shm_dir, f"bench-{os.getpid()}-attach.arrow")
    table = pq.read_table(paths["headers_pq"]).combine_chunks()
    with pa.OSFile(p, "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    del table
    best_ipc = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        tb = pa.ipc.open_file(pa.memory_map(p)).read_all()
        _ = tb.column("offset").chunk(0).to_numpy()
        best_ipc = min(best_ipc, time.perf_counter() - t)
        del tb
    os.remove(p)
    return {"octavo_attach_ms": best * 1e3, "octavo_attach_verify_ms": verify * 1e3,
            "octavo_attach_populate_ms": populate * 1e3,
            "pyarrow_mmap_open_ms": best_ipc * 1e3, "segment_mib": size / 2**20}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--per-ensemble", type=int, default=220)
    ap.add_argument("--shm", default="/dev/shm")
    ap.add_argument("--repeat", type=int, default=1, help="runs per method; the best of each metric is kept")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    import pyarrow.parquet as pq

    import octavo

    tmp = tempfile.mkdtemp(prefix="bench_share_")
    try:
        headers, ens = make_data(args.rows, args.per_ensemble)
        table_mib = headers.nbytes / 2**20
        paths = {"headers_pq": os.path.join(tmp, "headers.parquet"), "ensembles_pq": os.path.join(tmp, "ens.parquet"),
                 "bundle": os.path.join(tmp, "exp.octavo")}
        pq.write_table(headers, paths["headers_pq"])
        pq.write_table(ens, paths["ensembles_pq"])
        with octavo.open(paths["bundle"], "a") as b:
            b.add_table("headers", headers)
            b.add_table("ensembles", ens)
        print(f"headers: {args.rows:,} rows x {len(COLUMNS)} columns = {table_mib:.0f} MiB in memory; "
              f"ensembles: {ens.num_rows:,} rows ({ens.nbytes / 2**20:.1f} MiB); {args.workers} workers", flush=True)
        del headers, ens

        results = []
        for start_method in ("fork", "spawn"):
            for method in ("baseline", "pandas", "polars", "cow_pandas", "cow_polars", "ipc_mmap", "octavo",
                           "octavo_populate"):
                if method.startswith("cow_") and start_method != "fork":
                    continue
                runs = [run(method, start_method, args.workers, paths, args.shm) for _ in range(args.repeat)]
                r = {k: (min(x[k] for x in runs) if isinstance(v, float) and k != "checksum" else v)
                     for k, v in runs[0].items()}  # best of the repeats, metric by metric
                results.append(r)
                print(f"{start_method:5} {method:11} PSS {r['pss_mib']:7.0f} MiB  first {r['first_result_s']:6.2f} s  "
                      f"total {r['total_s']:6.2f} s  prepare {r['parent_prepare_s']:5.2f} s  "
                      f"load/attach {r['load_s_median'] * 1e3:8.1f} ms  compute {r['compute_s_median'] * 1e3:6.1f} ms "
                      f"(cpu {r['compute_cpu_s_median'] * 1e3:6.1f} ms)  "
                      f"checksum {r['checksum']:.6g}", flush=True)
        at = attach_times(paths, args.shm)
        print(json.dumps(at), flush=True)
        checks = [r["checksum"] for r in results if r["method"] != "baseline"]
        if max(checks) - min(checks) > 1e-9 * abs(max(checks)):  # summation order differs by method
            print(f"CHECKSUMS DIFFER: {checks}", file=sys.stderr)
            return 1
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"rows": args.rows, "workers": args.workers, "table_mib": table_mib, "runs": results,
                           "attach": at}, f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
