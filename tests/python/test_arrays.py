"""n-d arrays: numpy semantics, commits and snapshots, codecs, zarr-python interop both ways."""
import json
import os
import warnings

import numpy as np
import pytest

import octavo
from octavo.zarr import ZarrStore

zarr = pytest.importorskip("zarr")

warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")


def _zarr_open(store):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return zarr.open(store=store, mode="r")


# --- numpy semantics -------------------------------------------------------------------

def test_create_and_basic_slicing(bundle):
    data = np.arange(5 * 6 * 7, dtype="int32").reshape(5, 6, 7)
    a = bundle.create_array("/g/cube", data, chunks=(2, 4, 3))
    assert isinstance(a, octavo.Array)
    assert a.shape == (5, 6, 7) and a.dtype == np.int32 and a.chunks == (2, 4, 3)
    assert a.ndim == 3 and a.size == data.size and len(a) == 5
    np.testing.assert_array_equal(a[...], data)
    np.testing.assert_array_equal(np.asarray(a), data)
    for key in [np.s_[:3, :3, :3], np.s_[1], np.s_[-1, 2], np.s_[::2, 1::3, ::-1], np.s_[..., 4],
                np.s_[3:1:-1, ..., 2:5], np.s_[None, 1, :, None], np.s_[10:20], np.s_[:, 5:2],
                np.s_[4, 5, 6], np.s_[-5:, -100:100, ::-3]]:
        got = a[key]
        want = data[key]
        assert np.shape(got) == np.shape(want), key
        np.testing.assert_array_equal(got, want)
    assert isinstance(a[1, 2, 3], np.int32)
    assert bundle["/g/cube"] == a
    assert [n.path for n in bundle.walk_nodes("/", "array")] == ["/g/cube"]


def test_index_errors(bundle):
    a = bundle.create_array("a", shape=(4, 5), dtype="float64")
    with pytest.raises(IndexError):
        a[4]
    with pytest.raises(IndexError):
        a[0, -6]
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(IndexError):
        a[[0, 1]]
    with pytest.raises(IndexError):
        a[..., ...]
    with pytest.raises(ValueError):
        a[::0]


def test_setitem_broadcast_and_dtype_checks(bundle):
    a = bundle.create_array("/w", shape=(6, 8), dtype="int16", chunks=(4, 4), fill_value=-1)
    ref = np.full((6, 8), -1, dtype="int16")
    np.testing.assert_array_equal(a[:], ref)
    a[1:3, 2:7] = 5
    ref[1:3, 2:7] = 5
    a[:, 0] = np.arange(6)
    ref[:, 0] = np.arange(6)
    a[::-2, ::3] = np.array([7, 8, 9], dtype="int8")
    ref[::-2, ::3] = np.array([7, 8, 9], dtype="int8")
    a[5, 7] = 42
    ref[5, 7] = 42
    np.testing.assert_array_equal(a[...], ref)
    with pytest.raises(octavo.SchemaError):
        a[0, 0] = 1.5
    with pytest.raises(octavo.SchemaError):
        a[0] = np.ones(8, dtype="float64")
    with pytest.raises(octavo.SchemaError):
        a[0, 0] = 70000
    with pytest.raises(octavo.InvalidArgumentError):
        a[0:2] = np.zeros((3, 8), dtype="int16")
    np.testing.assert_array_equal(a[...], ref)


def test_dtypes_and_fill_values(bundle):
    for dt in octavo.array.SUPPORTED_DTYPES:
        data = (np.arange(24) % 2).astype(dt).reshape(2, 3, 4)
        a = bundle.create_array(f"/dt_{dt}", data)
        assert a.dtype == np.dtype(dt)
        np.testing.assert_array_equal(a[:], data)
    f = bundle.create_array("/nan", shape=(3,), dtype="float32", fill_value=np.nan)
    assert np.isnan(f[:]).all() and np.isnan(f.fill_value)
    b = bundle.create_array("/bools", shape=(3,), dtype=bool, fill_value=True)
    assert b[:].tolist() == [True, True, True]
    s = bundle.create_array("/scalar", np.float64(2.5))
    assert s.shape == () and s[()] == 2.5
    big = bundle.create_array("/be", np.arange(10, dtype=">i4"))  # non-native byte order in
    np.testing.assert_array_equal(big[:], np.arange(10))
    with pytest.raises(octavo.SchemaError):
        bundle.create_array("/c", shape=(2,), dtype="datetime64[s]")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/u", shape=(2,), dtype="uint8", fill_value=300)


def test_auto_chunks(bundle):
    a = bundle.create_array("/big", shape=(1000, 1000), dtype="float64")
    assert a.chunks == (131, 1000)
    e = bundle.create_array("/earray", shape=(0, 64, 64), dtype="uint16")
    assert e.chunks == (128, 64, 64)


@pytest.mark.parametrize("compressor", ["zstd", "lz4", "gzip", "zlib", "none", None])
@pytest.mark.parametrize("shuffle", [False, True])
def test_codecs(bundle, compressor, shuffle):
    data = np.linspace(0, 1, 5000).reshape(50, 100)
    a = bundle.create_array("/c", data, chunks=(20, 30), compressor=compressor, shuffle=shuffle, level=3)
    np.testing.assert_array_equal(a[:], data)
    assert a.compressor == (compressor or "none")
    meta = json.loads(a.info()["zarr_json"])
    names = [c["name"] for c in meta["codecs"]]
    assert names[0] == "bytes"
    assert ("numcodecs.shuffle" in names) == shuffle


def test_bad_compressor_and_names(bundle):
    with pytest.raises(octavo.OctavoError, match="blosc"):
        bundle.create_array("/x", shape=(2,), dtype="int8", compressor="blosc:snappy")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/x", shape=(2,), dtype="int8", compressor="snappy")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/a/../b", shape=(2,), dtype="int8")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/x", np.zeros(4), shape=(5,))
    assert "/x" not in bundle


# --- append / resize -------------------------------------------------------------------

def test_append_and_resize(bundle):
    e = bundle.create_array("/e", shape=(0, 3), dtype="float32", chunks=(4, 3))
    rows = []
    for k in range(5):
        block = np.full((k + 1, 3), k, dtype="float32")
        e.append(block)
        rows.append(block)
    e.append(np.array([9, 9, 9], dtype="float32"))  # one row
    rows.append(np.full((1, 3), 9, dtype="float32"))
    ref = np.concatenate(rows)
    assert e.shape == ref.shape
    np.testing.assert_array_equal(e[:], ref)
    e.append(np.ones((len(ref), 2), dtype="float32"), axis=1)
    assert e.shape == (len(ref), 5)
    with pytest.raises(octavo.InvalidArgumentError):
        e.append(np.ones((2, 4), dtype="float32"))
    e.resize(3, 2)
    np.testing.assert_array_equal(e[:], ref[:3, :2])
    e.resize((6, 4))
    want = np.zeros((6, 4), dtype="float32")
    want[:3, :2] = ref[:3, :2]
    np.testing.assert_array_equal(e[:], want)


# --- versioning ----------------------------------------------------------------------------

def test_writes_are_commits_and_snapshots_stay(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        a = b.create_array("/m", np.full((8, 8), 3, dtype="int64"), chunks=(4, 4))  # 4 stored chunks
        c0 = b.commit["id"]
        reader = octavo.open(bundle_path)
        ra = reader["/m"]
        a[0:2, 0:2] = 1
        a.append(np.ones((4, 8), dtype="int64") * 2)
        assert b.commit["id"] == c0 + 2
        np.testing.assert_array_equal(ra[:], np.full((8, 8), 3))  # the reader's snapshot
        assert ra.shape == (8, 8)
        reader.refresh()
        assert ra.shape == (12, 8) and ra[0, 0] == 1 and ra[11, 7] == 2
        old = octavo.open(bundle_path, commit=c0)
        np.testing.assert_array_equal(old["/m"][:], np.full((8, 8), 3))
        # A changed chunk is a new file; the old file is still there for the old commit:
        # 4 original chunks + 1 rewritten + 2 appended.
        files = set(os.listdir(os.path.dirname(a._native.chunk_refs()[0][1])))
        assert len(files) == 7
        reader.close()
        old.close()


def test_array_attrs_copy_move_remove(bundle):
    a = bundle.create_array("/a", np.arange(10), attrs={"units": "mV"})
    a.attrs.rate = 30000
    assert a.attrs.to_dict() == {"units": "mV", "rate": 30000}
    assert json.loads(a.info()["zarr_json"])["attributes"] == {"units": "mV", "rate": 30000}
    bundle.copy_node("/a", newname="b")
    bundle["/b"][0] = 100
    assert bundle["/a"][0] == 0 and bundle["/b"][0] == 100
    bundle.move_node("/b", "/grp", "c")
    np.testing.assert_array_equal(bundle["/grp/c"][1:], np.arange(1, 10))
    bundle.remove_node("/grp", recursive=True)
    assert "/grp/c" not in bundle
    with bundle.transaction("two writes"):
        a[0] = 5
        a[1] = 6
    assert a[:2].tolist() == [5, 6]


def test_read_only_and_corruption(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        a = b.create_array("/a", np.arange(30, dtype="int32"), chunks=(10,))
        refs = a._native.chunk_refs()
    with octavo.open(bundle_path) as r:
        with pytest.raises(octavo.ReadOnlyError):
            r["/a"][0] = 1
    with open(refs[1][1], "r+b") as f:
        f.write(b"garbage!")
    os.remove(refs[2][1])
    with octavo.open(bundle_path) as r:
        a = r["/a"]
        np.testing.assert_array_equal(a[:10], np.arange(10))
        with pytest.raises(octavo.CorruptionError, match="chunk 1"):
            a[10:20]
        with pytest.raises(octavo.CorruptionError, match="missing"):
            a[25]


# --- zarr-python interop -------------------------------------------------------------------

@pytest.mark.parametrize("compressor,shuffle", [("zstd", False), ("gzip", True), ("lz4", True), ("zlib", False),
                                                ("none", False)])
def test_zarr_python_reads_octavo_arrays(bundle, compressor, shuffle):
    data = np.random.default_rng(0).normal(size=(37, 23)).astype("float32")
    a = bundle.create_array("/g/x", data, chunks=(10, 7), compressor=compressor, shuffle=shuffle,
                            fill_value=np.nan, attrs={"k": [1, 2]})
    a[0:5, 0:5] = np.nan
    want = a[:]
    z = _zarr_open(a.zarr_store())
    assert isinstance(z, zarr.Array)
    assert z.shape == (37, 23) and z.chunks == (10, 7) and z.dtype == np.float32
    np.testing.assert_array_equal(z[:], want)
    np.testing.assert_array_equal(z[3:20:2, ::2], want[3:20:2, ::2])  # zarr-python has no negative steps
    assert z.attrs["k"] == [1, 2]
    # The chunk files on disk are plain Zarr chunks: a copy laid out as a Zarr store opens too.


def test_zarr_store_group_and_commit(bundle):
    bundle.create_group("/exp", title="experiment")
    a = bundle.create_array("/exp/raw", np.arange(100, dtype="uint16").reshape(10, 10), chunks=(3, 3))
    bundle.create_array("/exp/sub/mask", np.eye(4, dtype=bool))
    bundle.create_table("/exp/table", data={"x": np.arange(3)})
    c = bundle.commit["id"]
    a[:] = 7
    store = ZarrStore(bundle, "/exp", commit=c)
    g = zarr.open_group(store=store, mode="r")
    assert g.attrs["TITLE"] == "experiment"
    assert sorted(g.array_keys()) == ["raw"]
    assert sorted(g.group_keys()) == ["sub"]
    np.testing.assert_array_equal(g["raw"][:], np.arange(100).reshape(10, 10))  # commit c, not the new one
    np.testing.assert_array_equal(g["sub/mask"][:], np.eye(4, dtype=bool))
    now = zarr.open_array(store=ZarrStore(bundle, "/exp/raw"), mode="r")
    assert (now[:] == 7).all()
    with pytest.raises((ValueError, octavo.ReadOnlyError)):  # zarr refuses the read-only store, or octavo does
        zarr.open_array(store=store, path="raw", mode="a")[0, 0] = 1
    assert ZarrStore(bundle.path, "/exp/raw").commit == bundle.commit["id"]


def test_zarr_store_reads_chunks_through_the_engine(bundle, tmp_path):
    """Chunks come from the engine (its Env, the manifest's size and CRC), on a handle of the store's
    own: a damaged chunk is octavo's CorruptionError, the store outlives the caller's handle, and it
    pickles (dask ships stores to worker processes) to one that reopens the same commit."""
    import pickle

    data = np.arange(64, dtype="int32").reshape(8, 8)
    a = bundle.create_array("/z", data, chunks=(4, 4), compressor="none")
    c = bundle.commit["id"]
    store = ZarrStore(bundle.path, "/z")
    a[:] = 0  # a later commit: the store keeps showing commit c
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store and clone.commit == c
    np.testing.assert_array_equal(zarr.open_array(store=clone, mode="r")[:], data)
    store.close()
    np.testing.assert_array_equal(zarr.open_array(store=clone, mode="r")[:], data)  # independent handles

    other = octavo.open(tmp_path / "other.octavo", "a")
    b = other.create_array("/z", data, chunks=(4, 4), compressor="none")
    key, file, size, _ = sorted(b._native.chunk_refs())[0]
    mine = ZarrStore(other, "/z")
    other.close()  # the store has a handle of its own
    with open(file, "r+b") as f:  # the chunk is stored uncompressed: flip one value's byte
        f.seek(5)
        byte = f.read(1)
        f.seek(5)
        f.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(octavo.CorruptionError, match="checksum"):
        zarr.open_array(store=mine, mode="r")[:]
    mine.close()


def test_octavo_chunk_files_are_plain_zarr(bundle, tmp_path):
    """Lay the files out as a Zarr directory by hand: zarr-python reads them unchanged."""
    data = np.arange(60, dtype="int64").reshape(6, 10)
    a = bundle.create_array("/plain", data, chunks=(4, 4), compressor="zstd")
    d = tmp_path / "plain.zarr"
    d.mkdir()
    (d / "zarr.json").write_text(a.info()["zarr_json"])
    for key, file, _size, _ in a._native.chunk_refs():
        dest = d / "c" / "/".join(key.split("."))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(open(file, "rb").read())
    np.testing.assert_array_equal(zarr.open_array(str(d), mode="r")[:], data)


def test_import_zarr_array_and_group(bundle, tmp_path):
    src = str(tmp_path / "src.zarr")
    root = zarr.open_group(src, mode="w")
    root.attrs["session"] = 3
    x = root.create_array("x", shape=(50, 40), chunks=(16, 16), dtype="float64", fill_value=-2.0)
    data = np.random.default_rng(1).normal(size=(50, 40))
    x[:45] = data[:45]
    x.attrs["units"] = "V"
    b = root.create_array("nested/y", shape=(7,), chunks=(3,), dtype="int8",
                          compressors=zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"))
    b[:] = np.arange(7)
    c0 = bundle.commit["id"]
    imp = bundle.import_zarr(x, "/imported/x")
    assert bundle.commit["id"] == c0 + 1  # one commit
    assert imp.shape == (50, 40) and imp.chunks == (16, 16) and imp.fill_value == -2.0
    want = x[:]
    np.testing.assert_array_equal(imp[:], want)
    assert imp.attrs["units"] == "V"
    g = bundle.import_zarr(src, "/whole")
    assert g.attrs["session"] == 3
    np.testing.assert_array_equal(bundle["/whole/x"][:], want)
    np.testing.assert_array_equal(bundle["/whole/nested/y"][:], np.arange(7))
    # ... and back out through the store
    z = zarr.open_group(store=ZarrStore(bundle, "/whole"), mode="r")
    np.testing.assert_array_equal(z["x"][:], want)


def test_import_zarr_bad_input(bundle, tmp_path):
    with pytest.raises(octavo.NotFoundError):
        bundle.import_zarr(str(tmp_path / "nope.zarr"), "/x")
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / "zarr.json").write_text('{"zarr_format": 3, "node_type": "array", "shape": "oops"}')
    with pytest.raises(octavo.CorruptionError):
        bundle.import_zarr(str(bad), "/x")
    src = zarr.create_array(str(tmp_path / "c.zarr"), shape=(3,), dtype=str)  # variable-length strings
    with pytest.raises(octavo.SchemaError):
        bundle.import_zarr(src, "/x")
    assert "/x" not in bundle
