"""HDF5 -> Parquet migration: `octavo migrate` vs pandas.read_hdf + DataFrame.to_parquet.

Data (generated once under bench/data/migrate_<n>/, reused):
  * `n` DeepLabCut-sized files: each a 5,000 x 81 float64 frame written by pandas with
    format="table", key "df_with_missing", 3-level column MultiIndex scorer/bodyparts/coords
    (27 body parts x x/y/likelihood);
  * optionally one ~2 GB table-format file of the same layout (--big-gb).

Every timed run starts with the HDF5 inputs out of the page cache (posix_fadvise
DONTNEED on each input, not timed), as in a real migration of files written long ago. This
is deliberate: on this VM DAMON pages out page cache idle for ~30 s, so without it the
cache state depended on the order of the runs (the 2 GB file was read from disk inside the
harness, from the cache when the same command was repeated by hand: 22.7-25 s vs 13.5-14.8 s).

Contenders, each run in a fresh child process so peak memory is that run's own
(ru_maxrss of the child and of its children):
  * octavo:        `octavo migrate DIR --jobs J --overwrite -q` (writes x.parquet beside each
                   file, decodes it again and compares every value with the HDF5 data before
                   the fdatasync + rename; J worker processes);
  * pandas:        for each file: pandas.read_hdf(f).to_parquet(f.with_suffix(".parquet"))
                   in one process (no verification);
  * pandas-pool:   the same in a multiprocessing.Pool(J).
Outputs are deleted between runs (not timed). Prints wall time, files/s, MB/s of HDF5
input, CPU time (also per file), peak RSS, octavo's speed-up over each peer, and octavo's
own per-file phase times (`timing` in `octavo --json migrate`).

    python3 bench/bench_migrate.py --files 50              # development size
    flock /tmp/octavo-bench.lock python3 bench/bench_migrate.py --files 1000 --big-gb 2
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ROWS, BODYPARTS = 5000, 27


def dlc_frame(rows: int, seed: int):
    import numpy as np
    import pandas as pd

    cols = pd.MultiIndex.from_product(
        [["DLC_resnet50_benchShuffle1_100000"], [f"bp{i:02d}" for i in range(BODYPARTS)], ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"])
    data = np.random.default_rng(seed).random((rows, len(cols))) * 640
    return pd.DataFrame(data, columns=cols)


def make_data(root: Path, n: int, big_gb: float) -> tuple[list[Path], Path | None]:
    small = root / "files"
    small.mkdir(parents=True, exist_ok=True)
    files = [small / f"video{i:04d}DLC_resnet50.h5" for i in range(n)]
    missing = [f for f in files if not f.exists()]
    if missing:
        print(f"generating {len(missing)} DeepLabCut-sized files in {small} ...", file=sys.stderr)
        # a handful of distinct frames, copied: content does not change the work done
        protos = []
        for k in range(min(8, len(missing))):
            p = root / f"proto{k}.h5"
            if not p.exists():
                dlc_frame(ROWS, k).to_hdf(p, key="df_with_missing", format="table", mode="w")
            protos.append(p)
        for i, f in enumerate(missing):
            shutil.copyfile(protos[i % len(protos)], f)
    big = None
    if big_gb > 0:
        big = root / f"big_{big_gb:g}gb.h5"
        if not big.exists():
            import pandas as pd

            rows_total = int(big_gb * 1e9 / (81 * 8))
            print(f"generating {big} ({rows_total:,} rows) ...", file=sys.stderr)
            step = 500_000
            with pd.HDFStore(big, mode="w") as store:
                for start in range(0, rows_total, step):
                    df = dlc_frame(min(step, rows_total - start), start)
                    df.index = pd.RangeIndex(start, start + len(df))
                    store.append("df_with_missing", df, format="table")
    return files, big


def clear_outputs(paths: list[Path]) -> None:
    for f in paths:
        for p in f.parent.glob(f.stem + "*.parquet"):
            p.unlink()


def evict(paths: list[Path]) -> None:
    """Drop the inputs from the page cache (only these files; nothing global)."""
    os.sync()  # dirty pages (outputs of the previous run) are written back first
    for f in paths:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# --- the contenders (run in a child: `bench_migrate.py --run WHAT ...`) --------------------

def _pandas_one(f: str) -> int:
    import pandas as pd

    df = pd.read_hdf(f)
    df.to_parquet(Path(f).with_suffix(".parquet"))
    return len(df)


def run_child(what: str, target: str, jobs: int) -> dict:
    t0 = time.perf_counter()
    if what == "octavo":
        r = subprocess.run([shutil.which("octavo"), "--json", "migrate", target, "--jobs", str(jobs), "--overwrite",
                            "-q"], capture_output=True, text=True)
        doc = json.loads(r.stdout) if r.stdout else {}
        if r.returncode != 0 or doc.get("failed"):
            raise SystemExit(f"octavo migrate failed: {r.stderr[-2000:]}")
        n = doc["converted"]
        # where the time went, per file (wall ms of each phase, summed over the workers)
        timing = {k: 1000 * sum(f["timing"][k] for f in doc["files"]) / max(n, 1)
                  for k in ("read", "write", "verify", "sync")}
    else:
        p = Path(target)
        files = [str(p)] if p.is_file() else sorted(str(x) for x in p.glob("*.h5"))
        if what == "pandas":
            n = sum(1 for f in files if _pandas_one(f) >= 0)
        else:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(jobs) as pool:
                n = len(pool.map(_pandas_one, files, chunksize=4))
    wall = time.perf_counter() - t0
    ru_self = resource.getrusage(resource.RUSAGE_SELF)
    ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru_self.ru_utime + ru_self.ru_stime + ru_kids.ru_utime + ru_kids.ru_stime
    # This process's own peak from VmHWM: ru_maxrss would include the high-water mark
    # inherited from the (large) parent at fork. Children were forked from this small process.
    own_kb = common._proc_status_kb("VmHWM") or ru_self.ru_maxrss
    out = {"what": what, "files": n, "wall_s": wall, "cpu_s": cpu,
           "peak_rss_mb": max(own_kb, ru_kids.ru_maxrss) / 1024}
    if what == "octavo":
        out["phase_ms"] = timing
    return out


def measure(what: str, target: Path, jobs: int, outputs: list[Path], repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        clear_outputs(outputs)
        evict(outputs)
        r = subprocess.run([sys.executable, __file__, "--run", what, "--target", str(target), "--jobs", str(jobs)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{what} failed:\n{r.stderr[-3000:]}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        if best is None or res["wall_s"] < best["wall_s"]:
            best = res
    return best


def report(title: str, results: list[dict], in_bytes: int) -> list[str]:
    lines = [f"### {title}", "",
             "| contender | wall s | files/s | HDF5 MB/s | CPU s (user+sys) | CPU ms/file | peak RSS MB | "
             "octavo speed-up (wall) | octavo CPU advantage |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    octavo = next(r for r in results if r["what"].startswith("octavo"))
    for r in results:
        fps = r["files"] / r["wall_s"]
        lines.append(f"| {r['label']} | {r['wall_s']:.2f} | {fps:.1f} | {in_bytes / 1e6 / r['wall_s']:.0f} | "
                     f"{r['cpu_s']:.2f} | {1000 * r['cpu_s'] / max(r['files'], 1):.1f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['wall_s'] / octavo['wall_s']:.2f}x | {r['cpu_s'] / octavo['cpu_s']:.2f}x |")
    lines.append("")
    for r in results:
        if "phase_ms" in r:
            p = r["phase_ms"]
            lines.append(f"{r['label']}: per file, wall ms in each phase (summed over workers): read HDF5 "
                         f"{p['read']:.2f}, encode + write Parquet {p['write']:.2f}, read back + compare "
                         f"{p['verify']:.2f}, fdatasync + rename {p['sync']:.2f} (on the finisher thread)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=50)
    ap.add_argument("--big-gb", type=float, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--run")
    ap.add_argument("--target")
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_child(args.run, args.target, args.jobs)))
        return

    root = Path(common.DATA_DIR) / "migrate"
    files, big = make_data(root, args.files, args.big_gb)
    # a directory holding exactly the first `--files` files
    work = root / f"set_{args.files}"
    work.mkdir(exist_ok=True)
    for f in files:
        link = work / f.name
        if not link.exists():
            os.link(f, link)
    wfiles = sorted(work.glob("*.h5"))
    in_bytes = sum(f.stat().st_size for f in wfiles)
    load = os.getloadavg()
    t_start = time.time()
    out = [f"machine: {os.cpu_count()} cores, load average before the run {load[0]:.2f}; "
           f"{len(wfiles)} files x {ROWS} x 81 float64 (table format), {in_bytes / 1e6:.0f} MB of HDF5"]
    res = []
    for what, label, jobs in [("octavo", f"octavo migrate --jobs {args.jobs}", args.jobs),
                              ("octavo", "octavo migrate --jobs 1", 1),
                              ("pandas", "pandas read_hdf + to_parquet (1 process)", 1),
                              ("pandas-pool", f"pandas read_hdf + to_parquet (Pool({args.jobs}))", args.jobs)]:
        r = measure(what, work, jobs, wfiles, args.repeat)
        r["label"] = label
        res.append(r)
        print(f"  {label}: {r['wall_s']:.2f} s, {r['files'] / r['wall_s']:.1f} files/s, cpu {r['cpu_s']:.2f} s, "
              f"{r['peak_rss_mb']:.0f} MB", file=sys.stderr)
    out += [""] + report(f"{len(wfiles)} DeepLabCut-sized files", res, in_bytes)
    if big is not None:
        bres = []
        for what, label in [("octavo", "octavo migrate"), ("pandas", "pandas read_hdf + to_parquet")]:
            r = measure(what, big, 1, [big], 1)
            r["label"] = label
            bres.append(r)
            print(f"  big {label}: {r['wall_s']:.2f} s, {r['peak_rss_mb']:.0f} MB", file=sys.stderr)
        out += [""] + report(f"one {big.stat().st_size / 1e9:.2f} GB table-format file", bres, big.stat().st_size)
        clear_outputs([big])
    clear_outputs(wfiles)
    load_end = os.getloadavg()
    out.append("")
    out.append(f"load average after the run {load_end[0]:.2f} (run took {time.time() - t_start:.0f} s)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
