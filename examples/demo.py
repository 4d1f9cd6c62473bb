"""octavo demo: the main job on generated sample data.

1. a PyTables-tutorial star catalogue (typed table built row by row, groups, attributes)
2. a DeepLabCut-style pose table with 3-level MultiIndex columns (pandas round trip)
3. a wide table of a few million rows: write, append, projected / ranged reads, chunked scan

Run it with `bash scripts/demo.sh` (which also does all set-up).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time

import numpy as np
import pandas as pd
import pyarrow as pa

import octavo


class Timer:
    def __init__(self):
        self.rows = []

    def __call__(self, label):
        timer = self

        class _T:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.rows.append((label, time.perf_counter() - self.t0))

        return _T()


def star_catalogue(b: octavo.Bundle) -> None:
    """The PyTables tutorial's Particle table, written with the table.row pattern."""
    b.create_group("/", "detector", title="Detector information")
    schema = pa.schema([
        ("name", pa.string()), ("idnumber", pa.int64()), ("ADCcount", pa.uint16()),
        ("TDCcount", pa.uint8()), ("grid_i", pa.int32()), ("grid_j", pa.int32()),
        ("pressure", pa.float32()), ("energy", pa.float64()),
    ])
    table = b.create_table("/detector", "readout", schema, title="Readout example")
    particle = table.row
    for i in range(10):
        particle["name"] = f"Particle: {i:6d}"
        particle["TDCcount"] = i % 256
        particle["ADCcount"] = (i * 256) % (1 << 16)
        particle["grid_i"] = i
        particle["grid_j"] = 10 - i
        particle["pressure"] = float(i * i)
        particle["energy"] = float(particle["pressure"] ** 4)
        particle["idnumber"] = i * (2 ** 34)
        particle.append()
    table.flush()
    table.attrs.gath_date = "Wed, 06/12/2003 18:33"
    table.attrs.temperature = 18.4
    table.attrs.temp_scale = "Celsius"
    # PyTables' in-kernel query, compiled in C++ and pushed into the Parquet files
    pressure = table.read_where("(TDCcount > 3) & (20 <= pressure) & (pressure < 50)",
                                columns=["pressure"], return_type="arrow").column("pressure").to_pylist()
    print(f"  star catalogue: {table.num_rows} particles; pressures with TDCcount>3 & 20<=p<50: {pressure}")


def pose_table(b: octavo.Bundle, frames: int = 5000) -> None:
    scorer = "DLC_resnet50_openfieldOct30shuffle1_15000"
    bodyparts = ["snout", "leftear", "rightear", "tailbase"]
    cols = pd.MultiIndex.from_product([[scorer], bodyparts, ["x", "y", "likelihood"]],
                                      names=["scorer", "bodyparts", "coords"])
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.random((frames, len(cols))) * 640, columns=cols)
    df.loc[:, (scorer, slice(None), "likelihood")] /= 640
    b.add_table("/videos/mouse1/df_with_missing", df)
    back = b.get_table("/videos/mouse1/df_with_missing")
    pd.testing.assert_frame_equal(back, df)
    print(f"  pose table: {back.shape[0]} frames x {back.shape[1]} columns, "
          f"column levels {list(back.columns.names)}; pandas round trip equal")


def wide_table(b: octavo.Bundle, rows: int, timer: Timer) -> None:
    rng = np.random.default_rng(42)
    half = rows // 2

    def chunk(start, n):
        cols = {"id": np.arange(start, start + n, dtype=np.int64),
                "t": pd.Timestamp("2026-01-01").value + np.arange(start, start + n, dtype=np.int64) * 1_000_000}
        for k in range(10):
            cols[f"f{k}"] = rng.standard_normal(n)
        table = pa.table(cols)
        return table.set_column(1, "t", table.column("t").cast(pa.timestamp("ns")))

    first, second = chunk(0, half), chunk(half, rows - half)
    with timer(f"create wide table ({half:,} rows x 12 cols)"):
        t = b.create_table("/telemetry/wide", data=first)
    with timer(f"append {rows - half:,} rows"):
        t.append(second)
    with timer("info() (manifest only)"):
        info = b.table_info("/telemetry/wide")
    with timer("full read to Arrow"):
        full = t.read(return_type="arrow")
    with timer("2-of-12 columns"):
        two = t.read(columns=["id", "f3"], return_type="arrow")
    with timer("1,000 rows from the middle"):
        mid = t.read(rows // 2 - 500, rows // 2 + 500, return_type="arrow")
    total = 0.0
    with timer("chunked scan of f0 (100k-row chunks)"):
        for c in t.iter_batches(100_000, columns=["f0"], return_type="arrow"):
            total += pa.compute.sum(c.column("f0")).as_py()
    assert full.num_rows == rows and two.num_columns == 2 and mid.num_rows == 1000
    assert mid.column("id")[0].as_py() == rows // 2 - 500
    print(f"  wide table: {info['rows']:,} rows, {info['columns']} columns, {info['num_parts']} parts, "
          f"{info['size_mb']:.1f} MB on disk; sum(f0) = {total:.3f}")


def print_tree(b: octavo.Bundle) -> None:
    exe = shutil.which("octavo")
    if exe:
        out = subprocess.run([exe, "tree", b.path], capture_output=True, text=True)
        if out.returncode == 0:
            print(out.stdout)
            return
    print(repr(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000, help="rows of the wide table")
    ap.add_argument("--out", default="demo_output/demo.octavo")
    args = ap.parse_args()
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    timer = Timer()
    print(f"octavo {octavo.__version__}: writing {args.out}")
    with octavo.open(args.out, "w") as b:
        star_catalogue(b)
        pose_table(b)
        wide_table(b, args.rows, timer)
        print(f"  {len(b.commits())} commits so far; current commit {b.commit['id']}")
    with octavo.open(args.out, "r") as b:
        print("\nTree:")
        print_tree(b)
    print("Timings:")
    for label, secs in timer.rows:
        print(f"  {label:<45s} {secs * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
