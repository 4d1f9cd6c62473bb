"""The PyTables tutorial's workflow (../shared/seeds/002), on octavo.

Each step names the PyTables call it replaces. Run: python examples/pytables_tutorial.py [DIR]
(after `bash scripts/setup.sh`). It builds one bundle with

1. a star catalogue table written row by row, queried with a condition, with attributes;
2. groups walked like an HDF5 file;
3. a compressed 3-D Mandelbulb volume (chunked n-d array, Zarr v3 chunks) next to an
   uncompressed copy, a random 2-D array that is appended to and then removed, and a soft link;
4. file nodes: a text file written, read line by line and appended to; twenty PNG images
   stored with Pillow, read back with Image.open, one removed and one renamed;
5. the history: every change above is a commit, and old commits stay readable.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from math import asin, degrees

import numpy as np
import pyarrow as pa
from PIL import Image

import octavo


def mandelbulb(n: int = 96, power: int = 8, iterations: int = 12) -> np.ndarray:
    """Escape-time 'stability' of the Mandelbulb on an n^3 grid (vectorised numpy)."""
    ax = np.linspace(-1.2, 1.2, n, dtype=np.float32)
    cx, cy, cz = np.meshgrid(ax, ax, ax, indexing="ij")
    x, y, z = cx.copy(), cy.copy(), cz.copy()
    stability = np.zeros(cx.shape, dtype=np.float32)
    alive = np.ones(cx.shape, dtype=bool)
    for _ in range(iterations):
        r = np.sqrt(x * x + y * y + z * z)
        theta = np.arccos(np.divide(z, r, out=np.zeros_like(z), where=r > 0))
        phi = np.arctan2(y, x)
        rp = r ** power
        x = np.where(alive, rp * np.sin(power * theta) * np.cos(power * phi) + cx, x)
        y = np.where(alive, rp * np.sin(power * theta) * np.sin(power * phi) + cy, y)
        z = np.where(alive, rp * np.cos(power * theta) + cz, z)
        alive &= (x * x + y * y + z * z) < 4.0
        stability += alive
    return stability


def main(workdir: str) -> None:
    path = os.path.join(workdir, "tutorial.octavo")
    shutil.rmtree(path, ignore_errors=True)
    random.seed(1)

    # --- 1. a star catalogue (tt.open_file / create_group / create_table / table.row) -----------
    f = octavo.open(path, "w")
    f.root.attrs.TITLE = "Stellar catalogue"
    g1 = f.create_group("/", "data", "Observational data")
    star_schema = pa.schema([          # class Star(tt.IsDescription)
        ("name", pa.string()), ("ra", pa.float64()), ("dec", pa.float64()),
        ("white", pa.float32()), ("red", pa.float32()), ("blue", pa.float32()),
        ("parallax", pa.float32()), ("proper", pa.float32()),
    ])
    table = f.create_table(g1, "readout", star_schema, title="Sample stars")
    star = table.row
    for i in range(1000):
        star["name"] = f"Star: {i:6d}"
        star["ra"] = 360 * random.random()
        star["dec"] = degrees(asin(2 * random.random() - 1))
        star["white"], star["red"], star["blue"] = random.gauss(0, 1), random.gauss(0, 1), random.gauss(0, 1)
        star["parallax"] = 1.0e-4 * random.random()
        star["proper"] = random.random()
        star.append()
    table.flush()                       # one commit for the 1,000 rows
    print(f"1. {table.path}: {table.num_rows} rows, columns {table.column_names}")

    near = table.read_where("(parallax > 9e-5) & (white < 0)", columns=["name", "parallax", "white"],
                            return_type="pandas")
    print(f"   table.where('(parallax > 9e-5) & (white < 0)') -> {len(near)} stars, e.g. {near['name'].iloc[0]!r}")
    table.attrs.gath_date = "Wed, 06/12/2003 18:33"
    table.attrs.temperature = np.float32(18.4)   # a numpy scalar keeps its dtype
    table.attrs.temp_scale = "Celsius"
    del table.attrs.gath_date
    print(f"   attrs: {dict(table.attrs.items())}")

    # --- 2. groups (create_group, walk_groups, walk_nodes) ----------------------------------------
    columns = f.create_group(f.root, "columns", "Pressure and Name")
    f.create_array(f"{columns.path}/parallax", np.asarray(near["parallax"], dtype=np.float32))
    print("2. walk_groups:", [g.path for g in f.walk_groups()])

    # --- 3. arrays (create_array vs create_carray with Filters, slicing, remove, soft link) ------
    volume = mandelbulb()
    raw = f.create_array("/g1/uncompressed", volume, compressor="none")
    stab = f.create_array("/g1/stability", volume, compressor="zstd", level=5)
    stab.attrs.TITLE = "stability variable"
    for a in (raw, stab):
        stored = sum(ref[2] for ref in a._native.chunk_refs())
        print(f"3. {a.path}: shape {a.shape} {a.dtype}, chunks {a.chunks}, {a.compressor}: "
              f"{a.nbytes / 2**20:.1f} MiB in memory, {stored / 2**20:.2f} MiB stored "
              f"(ratio {a.nbytes / max(stored, 1):.1f})")
    corner = f.root.g1.stability[:3, :3, :3]            # touches one chunk only
    print(f"   stability[:3,:3,:3].sum() = {corner.sum():.0f}; a slice with steps: "
          f"{stab[::32, 48, ::32].tolist()}")

    a = f.create_array("/g1/a", np.random.default_rng(0).standard_normal((100, 100)), chunks=(50, 100))
    a.append(np.ones((20, 100)))                        # an extendable first axis (EArray)
    print(f"   /g1/a {a.shape} after append; then removed")
    f.remove_node("/g1/a")

    f.create_soft_link("/", "stab", "/g1/stability")   # f1.create_soft_link("/", "stab", "/g1/stability")
    assert f.root.stab.shape == volume.shape
    assert np.array_equal(f["/stab"][10:12], volume[10:12])
    print(f"   /stab -> {f.get_link('/stab').target}, reads {f.root.stab.shape}")

    # --- 4. file nodes (tables.nodes.filenode) -----------------------------------------------------
    with f.create_file("/text_file") as fnode:          # filenode.new_node(f1, where='/', name='text_file')
        fnode.write(b"This is a sample line.\n")
        fnode.write("Write a second line.\n".encode("ascii"))
        fnode.write(b"Write a third line.\n")
    with f.open_file("/text_file", "ab") as fnode:      # filenode.open_node(node, 'a+')
        fnode.write(b"Write a fourth line.\n")
    with f.open_file("/text_file") as fnode:
        lines = list(fnode)
    print(f"4. /text_file: {len(lines)} lines, last {lines[-1]!r}")

    # Twenty 300x300 crops of one (generated) picture, saved straight into the bundle by Pillow.
    yy, xx = np.mgrid[0:900, 0:1200]
    picture = np.stack([(xx * 255 // 1199), (yy * 255 // 899), ((xx + yy) % 256)], axis=-1).astype(np.uint8)
    tuscany = f.create_group("/", "tuscany")
    with f.transaction("store 20 images"):              # one commit for all twenty
        for k in range(20):
            x, y = random.randrange(0, 900), random.randrange(0, 600)
            with f.create_file(f"{tuscany.path}/small{k:02d}") as fnode:
                Image.fromarray(picture[y:y + 300, x:x + 300]).save(fnode, format="png")
    image = Image.open(f.root.tuscany.small08)          # the node reads like a file
    print(f"   Image.open(f.root.tuscany.small08): {image.format} {image.size}, pixel {image.getpixel((0, 0))}")
    f.remove_node("/tuscany/small19")                   # f1.root.tuscany.small19.remove()
    f.rename_node("/tuscany/small18", "last_image")     # f1.root.tuscany.small18.rename("last_image")
    names = [n.name for n in f.root.tuscany]
    total = sum(n.size for n in f.root.tuscany)
    print(f"   /tuscany: {len(names)} images, {total / 1024:.0f} KiB, last names {names[-3:]}")
    with f.create_file("/tuscany_copy_of_08") as fnode:  # the same bytes are stored once
        fnode.write(f.root.tuscany.small08.open().read())
    assert f["/tuscany_copy_of_08"].digest == f.root.tuscany.small08.digest

    # --- 5. history -----------------------------------------------------------------------------
    commits = f.commits()
    print(f"5. {len(commits)} commits; the last: {[c['message'] for c in commits[-3:]]}")
    f.close()
    before = next(c["id"] for c in commits if c["message"].startswith("remove"))
    old = octavo.open(path, commit=before - 1)          # before /g1/a was removed
    print(f"   at commit {before - 1}, /g1/a exists: {'/g1/a' in old}; now: {'/g1/a' in octavo.open(path)}")

    cli = shutil.which("octavo")
    if cli:
        print("\n$ octavo tree", path, "--no-attrs   (first 14 lines)")
        out = subprocess.run([cli, "tree", path, "--no-attrs"], capture_output=True, text=True, check=True).stdout
        print("\n".join(out.splitlines()[:14]))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as d:
            main(d)
