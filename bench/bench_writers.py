"""Many writers on one bundle: N processes x M appends each, all at once, then a check that
every acknowledged batch is in the table exactly once and no unacknowledged one is.

    python3 bench/bench_writers.py                 # 16 processes x 200 appends (docs/benchmarks.md)
    python3 bench/bench_writers.py -n 4 -m 20      # quick run
    python3 bench/bench_writers.py --s3            # the same on an S3 server (moto, started on 127.0.0.1)

Reported: lost and duplicated batches, commit latency p50/p99 (one append() call: writing the
part file, the commit point under LOCK.commit, any rebase) and throughput in commits/s over
the wall time of the whole run. On S3 there is no lock: a commit is a conditional create of
the next manifest, and a writer that loses the race rebases and tries the next id
(docs/format.md 5.3). The bar from issue 19: delta-rs lost 142 of 2,000 commits at
concurrency 10.
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
from collections import Counter

import pyarrow as pa

WORKER = r"""
import sys, time, json, octavo, pyarrow as pa
path, w, m, ack, opts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
b = octavo.open(path, "a", storage_options=opts) if opts else octavo.open(path, "a", wait=float("inf"))
lat = []
with open(ack, "w") as f:
    for i in range(m):
        batch = pa.table({"writer": pa.array([w] * 10, pa.int64()), "seq": pa.array([i] * 10, pa.int64()),
                          "v": pa.array(range(10), pa.float64())})
        t0 = time.perf_counter()
        b.append_table("/t", batch)
        lat.append(time.perf_counter() - t0)
        f.write(f"{i} {b.commit['id']}\n")
        f.flush()
b.close()
print(json.dumps(lat))
"""


def start_moto(tmp: str) -> tuple[subprocess.Popen, dict]:
    """A moto S3 server on 127.0.0.1 with one bucket (tests/python/moto_server.py: moto with
    atomic conditional writes); returns it and octavo's storage options."""
    import importlib.util

    import boto3
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python", "moto_server.py")
    spec = importlib.util.spec_from_file_location("moto_server", path)
    moto_server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(moto_server)
    proc, url = moto_server.start(os.path.join(tmp, "moto.log"))
    boto3.client("s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket="bench")
    return proc, {"endpoint_url": url, "allow_http": True, "access_key_id": "testing",
                  "secret_access_key": "testing", "region": "us-east-1"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--writers", type=int, default=16)
    ap.add_argument("-m", "--appends", type=int, default=200)
    ap.add_argument("--s3", action="store_true", help="run against a moto S3 server instead of local disk")
    args = ap.parse_args()
    import octavo

    tmp = tempfile.mkdtemp(prefix="bench_writers_")
    path = os.path.join(tmp, "b.octavo")
    server, opts = None, {}
    if args.s3:
        server, opts = start_moto(tmp)
        path = "s3://bench/b.octavo"
    try:
        with octavo.open(path, "a", storage_options=opts or None) as b:
            b.add_table("t", pa.table({"writer": pa.array([], pa.int64()), "seq": pa.array([], pa.int64()),
                                       "v": pa.array([], pa.float64())}))
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, path, str(w), str(args.appends),
                                   os.path.join(tmp, f"ack{w}"), json.dumps(opts)], stdout=subprocess.PIPE, text=True)
                 for w in range(args.writers)]
        lat: list[float] = []
        failed = 0
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                failed += 1
            else:
                lat += json.loads(out)
        wall = time.perf_counter() - t0
        acked = set()
        acked_ids: Counter = Counter()  # commit id -> writers that were told they made it
        for w in range(args.writers):
            with open(os.path.join(tmp, f"ack{w}")) as f:
                for line in f:
                    seq, cid = line.split()
                    acked.add((w, int(seq)))
                    acked_ids[int(cid)] += 1
        with octavo.open(path, storage_options=opts or None) as r:
            t = r["/t"].read_arrow()
            commits = r.commit["id"]
        seen = Counter(zip(t["writer"].to_pylist(), t["seq"].to_pylist(), strict=True))
        lost = len(acked - {k for k, c in seen.items() if c >= 10})
        duplicated = sum(1 for c in seen.values() if c > 10)
        unacked = len(set(seen) - acked)
        lat.sort()

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

        print(f"store={'s3 (moto)' if args.s3 else 'local disk'} writers={args.writers} appends={args.appends} "
              f"cpus={os.cpu_count()} failed_processes={failed}")
        # Two writers told they made the same commit id: the store let two conditional creates
        # of one manifest succeed (its If-None-Match is not atomic), and one overwrote the other.
        twice = sum(1 for c in acked_ids.values() if c > 1)
        print(f"acknowledged={len(acked)} lost={lost} duplicated={duplicated} unacknowledged_present={unacked} "
              f"commits={commits} commit_ids_acknowledged_twice={twice}")
        print(f"commit latency p50={pct(0.50):.1f} ms p99={pct(0.99):.1f} ms; "
              f"throughput={len(acked) / wall:.0f} commits/s over {wall:.1f} s")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
