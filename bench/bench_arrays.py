"""octavo n-d arrays vs h5py, PyTables (CArray) and zarr-python on a 3-D float32 array.

    python3 bench/bench_arrays.py                    # 2 GiB smooth + 512 MiB random (run under the bench lock)
    python3 bench/bench_arrays.py --mib 200 --random-mib 100    # quick development run

Every tool stores the same data with the same chunk shape and, where it can, the same
codec (see CODECS); each tool runs in a fresh process. Workloads: write (slab by slab, one
chunk row of planes at a time), full read, a 128x256x256 sub-cube not aligned to chunks,
one row along each axis, one element. Reported: best wall time of a few repeats, file size
and compression ratio, and the peak RSS growth during the full read. The ratio column is
octavo / fastest peer (< 1 means octavo is faster).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Workload  # noqa: E402

PLANE = (512, 1024)         # each plane is 2 MiB of float32
CHUNKS = (64, 64, 64)       # 1 MiB chunks
TOOLS = ("octavo", "h5py", "pytables", "zarr")

# Codec configurations: (description, per-tool note)
CODECS = {
    "zstd": "zstd level 1 + byte shuffle (octavo numcodecs.shuffle+zstd, zarr Shuffle+Zstd, h5py shuffle+"
            "hdf5plugin Zstd; PyTables has no plain zstd: blosc:zstd clevel 1 + shuffle)",
    "blosc": "blosc:zstd clevel 1 + shuffle for every tool (h5py via hdf5plugin.Blosc)",
}


def data_path(kind: str, mib: int) -> str:
    return os.path.join(common.DATA_DIR, f"array_{kind}_{mib}mib.npy")


def make_data(kind: str, mib: int) -> str:
    """A seeded (n, 512, 1024) float32 .npy file, written slab by slab (bounded memory)."""
    path = data_path(kind, mib)
    if os.path.exists(path):
        return path
    os.makedirs(common.DATA_DIR, exist_ok=True)
    n = max(CHUNKS[0], mib // 2)
    out = np.lib.format.open_memmap(path + ".tmp", mode="w+", dtype="float32", shape=(n, *PLANE))
    y = np.linspace(-1.5, 1.5, PLANE[0], dtype="float32")[:, None]
    x = np.linspace(-2.0, 2.0, PLANE[1], dtype="float32")[None, :]
    rng = np.random.default_rng(42)
    for z0 in range(0, n, 16):
        z1 = min(n, z0 + 16)
        if kind == "smooth":
            # A smooth field: superposed waves with a radial envelope, like a simulation
            # snapshot or a microscopy volume.
            for z in range(z0, z1):
                zz = np.float32(-1.5 + 3.0 * z / max(1, n - 1))
                r2 = x * x + y * y + zz * zz
                out[z] = (np.sin(3 * x + 2 * zz) * np.cos(4 * y - zz) + 0.5 * np.sin(5 * r2)) * np.exp(-r2 / 4)
        else:
            out[z0:z1] = rng.standard_normal((z1 - z0, *PLANE), dtype="float32")
    out.flush()
    del out
    os.replace(path + ".tmp", path)
    return path


# --- one tool, one dataset: runs in a fresh process ------------------------------------------

def _open_writer(tool: str, path: str, shape, codec: str):
    if tool == "octavo":
        import octavo
        b = octavo.open(path, "w")
        if codec == "zstd":
            a = b.create_array("/a", shape=shape, dtype="float32", chunks=CHUNKS, compressor="zstd", level=1,
                               shuffle=True)
        else:
            a = b.create_array("/a", shape=shape, dtype="float32", chunks=CHUNKS, compressor="blosc:zstd", level=1,
                               shuffle=True)
        return a, b.close
    if tool == "h5py":
        import h5py
        import hdf5plugin
        f = h5py.File(path, "w")
        if codec == "zstd":
            d = f.create_dataset("a", shape=shape, dtype="float32", chunks=CHUNKS, shuffle=True,
                                 compression=hdf5plugin.Zstd(clevel=1))
        else:
            d = f.create_dataset("a", shape=shape, dtype="float32", chunks=CHUNKS,
                                 compression=hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.SHUFFLE))
        return d, f.close
    if tool == "pytables":
        import tables
        f = tables.open_file(path, "w")
        filters = tables.Filters(complib="blosc:zstd", complevel=1, shuffle=True)
        d = f.create_carray("/", "a", atom=tables.Float32Atom(), shape=shape, chunkshape=CHUNKS, filters=filters)
        return d, f.close
    if tool == "zarr":
        import zarr
        from numcodecs.zarr3 import Shuffle
        if codec == "zstd":
            comps = [Shuffle(elementsize=4), zarr.codecs.ZstdCodec(level=1)]
        else:
            comps = [zarr.codecs.BloscCodec(cname="zstd", clevel=1, shuffle="shuffle", typesize=4)]
        import warnings
        warnings.simplefilter("ignore")
        z = zarr.create_array(store=path, shape=shape, chunks=CHUNKS, dtype="float32", compressors=comps,
                              fill_value=0.0)
        return z, (lambda: None)
    raise ValueError(tool)


def _open_reader(tool: str, path: str):
    if tool == "octavo":
        import octavo
        b = octavo.open(path, "r")
        return b["/a"], b.close
    if tool == "h5py":
        import h5py
        import hdf5plugin  # noqa: F401  (registers the filters)
        f = h5py.File(path, "r")
        return f["a"], f.close
    if tool == "pytables":
        import tables
        f = tables.open_file(path, "r")
        return f.root.a, f.close
    if tool == "zarr":
        import warnings

        import zarr
        warnings.simplefilter("ignore")
        return zarr.open_array(path, mode="r"), (lambda: None)
    raise ValueError(tool)


def _du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def worker(probe, tool: str, src: str, out: str, codec: str, repeat: int) -> dict:
    """Write `src` (a .npy) with `tool` to `out`, then time the reads. Returns seconds and bytes."""
    src_arr = np.load(src, mmap_mode="r")
    shape = src_arr.shape
    if os.path.isdir(out):
        shutil.rmtree(out)
    elif os.path.exists(out):
        os.remove(out)
    probe.mark()
    res: dict = {}
    t0 = time.perf_counter()
    arr, close = _open_writer(tool, out, shape, codec)
    for z0 in range(0, shape[0], CHUNKS[0]):
        arr[z0:z0 + CHUNKS[0]] = np.asarray(src_arr[z0:z0 + CHUNKS[0]])
    close()
    res["write"] = time.perf_counter() - t0
    res["stored_bytes"] = _du(out)

    arr, close = _open_reader(tool, out)
    n = shape[0]
    z = n // 2
    sub = (slice(n // 4, n // 4 + min(128, n - n // 4)), slice(100, 356), slice(300, 556))
    checks = {}
    common.reset_peak_rss()
    base = common.current_rss_bytes()
    t_full = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        full = arr[...]
        t_full = min(t_full, time.perf_counter() - t0)
        checks["full"] = float(np.float64(full[::97, ::89, ::83].sum()))
        del full
    res["full_read_peak_mib"] = (common.peak_rss_bytes() - base) / 2**20
    res["full_read"] = t_full
    reads = {
        "sub_cube": lambda: arr[sub],
        "row_axis0": lambda: arr[:, 200, 300],
        "row_axis1": lambda: arr[z, :, 300],
        "row_axis2": lambda: arr[z, 200, :],
        "element": lambda: arr[z, 200, 300],
    }
    for name, fn in reads.items():
        checks[name] = float(np.float64(np.sum(fn())))
        res[name] = common.adaptive_repeat(fn, budget_s=1.5, max_repeat=30, min_repeat=max(2, repeat))
    close()
    # Cold: the first read after opening the file, with empty chunk caches (the OS page
    # cache stays warm for every tool). octavo's decoded-chunk cache is process-wide, so it
    # is emptied explicitly; h5py's and PyTables' caches belong to the open file.
    keys = {"sub_cube": sub, "row_axis0": np.s_[:, 200, 300], "row_axis1": np.s_[z, :, 300],
            "row_axis2": np.s_[z, 200, :], "element": (z, 200, 300)}
    for name, key in keys.items():
        best = float("inf")
        for _ in range(3):
            if tool == "octavo":
                import octavo.array
                size = octavo.array.chunk_cache_size()
                octavo.array.set_chunk_cache_size(0)
                octavo.array.set_chunk_cache_size(size)
            arr, close = _open_reader(tool, out)
            t0 = time.perf_counter()
            arr[key]
            best = min(best, time.perf_counter() - t0)
            close()
        res[name + "_cold"] = best
    res["checks"] = checks
    return res


# --- driver -----------------------------------------------------------------------------------

def run(kind: str, mib: int, codecs: list[str], tools: list[str], repeat: int) -> list[Workload]:
    src = make_data(kind, mib)
    shape = np.load(src, mmap_mode="r").shape
    logical = int(np.prod(shape)) * 4
    workloads: list[Workload] = []
    for codec in codecs:
        results = {}
        for tool in tools:
            out = os.path.join(common.DATA_DIR, f"arr_{kind}_{mib}_{codec}_{tool}" +
                               {"octavo": ".octavo", "h5py": ".h5", "pytables": ".h5", "zarr": ".zarr"}[tool])
            r = common.run_in_fresh_process("bench_arrays", "worker", tool, src, out, codec, repeat, timeout=7200)
            results[tool] = r["result"]
            results[tool]["peak_total_mib"] = r["delta_rss"] / 2**20
            print(f"  [{kind} {codec}] {tool}: write {results[tool]['write']:.2f}s full {results[tool]['full_read']:.2f}s"
                  f" ratio {logical / results[tool]['stored_bytes']:.2f}", flush=True)
            shutil.rmtree(out, ignore_errors=True) if os.path.isdir(out) else os.remove(out)
        # Every tool must have read the same values.
        ref = results[tools[0]]["checks"]
        for tool in tools[1:]:
            for k, v in results[tool]["checks"].items():
                assert np.isclose(v, ref[k], rtol=1e-5, atol=1e-3), (tool, k, v, ref[k])
        label = f"{kind} {mib} MiB {shape}, {codec}"
        for op in ("write", "full_read", "sub_cube", "row_axis0", "row_axis1", "row_axis2", "element",
                   "sub_cube_cold", "row_axis0_cold", "row_axis1_cold", "row_axis2_cold", "element_cold"):
            w = Workload(f"{label}: {op}")
            for tool in tools:
                w.add(tool, results[tool][op])
            workloads.append(w)
        w = Workload(f"{label}: stored size", unit="MiB")
        for tool in tools:
            w.add(tool, results[tool]["stored_bytes"] / 2**20,
                  note=f"ratio {logical / results[tool]['stored_bytes']:.2f}x")
        workloads.append(w)
        w = Workload(f"{label}: full-read peak RSS growth", unit="MiB")
        for tool in tools:
            w.add(tool, results[tool]["full_read_peak_mib"])
        workloads.append(w)
    return workloads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=2048, help="size of the smooth array (MiB)")
    ap.add_argument("--random-mib", type=int, default=512, help="size of the random array (MiB; 0 = skip)")
    ap.add_argument("--codec", action="append", choices=sorted(CODECS), help="codec config(s); default all")
    ap.add_argument("--skip", action="append", default=[], choices=TOOLS)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=None, help="markdown output (default bench/data/arrays_<mib>.md)")
    args = ap.parse_args()
    codecs = args.codec or list(CODECS)
    tools = [t for t in TOOLS if t not in args.skip]
    print(f"load average {os.getloadavg()}; tools {tools}; codecs {codecs}", flush=True)
    workloads = run("smooth", args.mib, codecs, tools, args.repeat)
    if args.random_mib:
        workloads += run("random", args.random_mib, codecs, tools, args.repeat)
    for w in workloads:
        common.print_workload(w)
    headers = ["workload", *tools, "octavo / fastest peer"]
    rows = []
    for w in workloads:
        vals = {e.tool: common.fmt_value(e.value, w.unit) + (f" ({e.note})" if e.note else "") for e in w.entries}
        rows.append([w.name, *[vals.get(t, "n/a") for t in tools], common.fmt_ratio(w.ratio())])
    print()
    common.print_table(headers, rows)
    md = common.markdown_table(headers, rows)
    out = args.out or os.path.join(common.DATA_DIR, f"arrays_{args.mib}.md")
    with open(out, "w") as f:
        f.write(f"load average at start {os.getloadavg()}\n\n" + md)
    with open(out.replace(".md", ".json"), "w") as f:
        json.dump([{"name": w.name, "unit": w.unit, "entries": [e.__dict__ for e in w.entries]} for w in workloads],
                  f, indent=1)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
