"""`octavo tree` / `octavo info` on arrays: shape, dtype, chunks, codec, compression ratio."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import octavo

CLI = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")
pytestmark = pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built / not on PATH")


def run(*args):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def arrays(tmp_path):
    path = str(tmp_path / "a.octavo")
    data = np.round(np.sin(np.arange(200000) / 1000), 2).astype("float32").reshape(20, 100, 100)
    with octavo.open(path, "a") as b:
        a = b.create_array("/img/stack", data, chunks=(5, 100, 100), compressor="blosc:zstd", shuffle=True,
                           attrs={"units": "mV"})
        a.resize(24, 100, 100)  # one chunk row more, never written: not stored
        b.create_array("/u", np.array(["ab", "c"]), compressor="none")
        info = a.info()
    return path, info


def test_tree_shows_array_details(arrays):
    path, info = arrays
    out = run("tree", path)
    line = next(ln for ln in out.splitlines() if "/img/stack" in ln)
    assert "(array) shape (24, 100, 100) float32, chunks (5, 100, 100), blosc:zstd+shuffle" in line
    ratio = info["logical_bytes"] / info["size_bytes"]
    assert f"({ratio:.2f}x)" in line and ratio > 5
    assert "/u (array) shape (2,) U2, chunks (2,), none, 16 B -> 16 B stored (1.00x)" in out
    tree = {n["path"]: n for n in json.loads(run("--json", "tree", path))}
    st = tree["/img/stack"]
    assert st["shape"] == [24, 100, 100] and st["chunks"] == [5, 100, 100] and st["dtype"] == "float32"
    assert st["logical_bytes"] == 24 * 100 * 100 * 4 and st["size_bytes"] == info["size_bytes"]
    assert st["num_chunks"] == 5 and st["num_chunks_stored"] == 4
    assert st["compression_ratio"] == pytest.approx(ratio)


def test_info_shows_array_in_full(arrays):
    path, info = arrays
    out = run("info", f"{path}:/img/stack")
    assert "shape:       (24, 100, 100)" in out
    assert "dtype:       float32 (4 bytes per element)" in out
    assert "chunks:      (5, 100, 100), 4 of 5 stored" in out
    assert "compressor:  blosc:zstd (level 5), shuffle" in out
    assert "codecs:      bytes(little) | blosc(zstd, clevel=5, shuffle, typesize=4)" in out
    assert f"{info['size_bytes']:,} bytes) stored" in out
    assert '.units = "mV"' in out
    j = json.loads(run("--json", "info", f"{path}:/img/stack"))
    assert j["kind"] == "array" and j["zarr"]["zarr_format"] == 3
    assert j["zarr"]["attributes"] == {"units": "mV"} and j["attrs"] == {"units": "mV"}
    assert j["fill_value"] == 0.0 and j["shuffle"] == "shuffle"
    u = json.loads(run("--json", "info", f"{path}:/u"))
    assert u["dtype"] == "U2" and u["itemsize"] == 8 and u["zarr"]["data_type"]["name"] == "fixed_length_utf32"
