"""Arrays and bad input: clear errors naming the array, chunk and file; never a crash, never
a half-written change."""
import os

import numpy as np
import pytest

import octavo


def _data_files(bundle):
    root = os.path.join(bundle.path, "data")
    return sorted(os.path.join(r, f) for r, _, fs in os.walk(root) for f in fs)


def test_out_of_range_selections(bundle):
    a = bundle.create_array("/a", np.arange(24).reshape(4, 6), chunks=(3, 4))
    for key in [np.s_[4], np.s_[-5], np.s_[0, 6], np.s_[0, -7], np.s_[0, 0, 0], np.s_[..., 0, 0, 0]]:
        with pytest.raises(IndexError):
            a[key]
        with pytest.raises(IndexError):
            a[key] = 1
    with pytest.raises(IndexError, match="basic indexing"):
        a[np.array([0, 1])]
    with pytest.raises(IndexError):
        a[np.ones(4, dtype=bool)]
    with pytest.raises(ValueError):
        a[:, ::0]
    # Slices past the end clip like numpy's, including empty ones.
    np.testing.assert_array_equal(a[2:100, 5:100], np.arange(24).reshape(4, 6)[2:, 5:])
    assert a[10:20].shape == (0, 6)
    a[10:20] = np.zeros((0, 6), dtype=a.dtype)  # an empty write is a no-op
    np.testing.assert_array_equal(a[:], np.arange(24).reshape(4, 6))


def test_wrong_dtype_or_shape_on_write_changes_nothing(bundle):
    a = bundle.create_array("/a", np.zeros((4, 4), dtype="float32"), chunks=(2, 2))
    c0, files = bundle.commit["id"], _data_files(bundle)
    with pytest.raises(octavo.SchemaError):
        a[0] = np.array(["x"] * 4)
    with pytest.raises(octavo.SchemaError):
        a[0] = np.ones(4, dtype="complex64")  # would drop the imaginary part
    with pytest.raises(octavo.InvalidArgumentError, match="broadcast"):
        a[0:2, 0:2] = np.ones((3, 3), dtype="float32")
    with pytest.raises(octavo.InvalidArgumentError):
        a.append(np.ones((2, 5), dtype="float32"))
    with pytest.raises(octavo.InvalidArgumentError):
        a.resize(4, 4, 1)
    with pytest.raises(octavo.SchemaError):
        bundle.create_array("/b", np.ones(3), dtype="int8")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/b", shape=(-1, 3), dtype="int8")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/b", shape=(3, 3), dtype="int8", chunks=(0, 1))
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/b", shape=(3, 3), dtype="int8", chunks=(1,))
    assert bundle.commit["id"] == c0 and _data_files(bundle) == files and "/b" not in bundle
    assert (a[:] == 0).all()


@pytest.mark.parametrize("compressor", ["zstd", "blosc:lz4", "lz4", "gzip", "none"])
def test_missing_or_corrupt_chunk_is_named(bundle_path, compressor):
    with octavo.open(bundle_path, "a") as b:
        a = b.create_array("/grp/arr", np.arange(400, dtype="int32").reshape(20, 20), chunks=(10, 10),
                           compressor=compressor)
        refs = {k: f for k, f, _, _ in a._native.chunk_refs()}
    size = os.path.getsize(refs["0.1"])
    with open(refs["0.1"], "r+b") as f:  # same size, garbage
        f.write(os.urandom(size) if compressor != "none" else b"")
    os.truncate(refs["1.0"], max(0, os.path.getsize(refs["1.0"]) - 3))
    os.remove(refs["1.1"])
    with octavo.open(bundle_path, "a") as b:
        a = b["/grp/arr"]
        np.testing.assert_array_equal(a[:10, :10], np.arange(400).reshape(20, 20)[:10, :10])
        if compressor != "none":
            with pytest.raises(octavo.CorruptionError, match=r"array /grp/arr: chunk 0\.1"):
                a[0, 15]
        with pytest.raises(octavo.CorruptionError, match=r"/grp/arr: chunk 1\.0 .*(truncated|bytes)"):
            a[15, 0]
        with pytest.raises(octavo.CorruptionError, match=r"/grp/arr: chunk 1\.1 .*missing") as e:
            a[10:, 10:]
        assert refs["1.1"] in str(e.value)
        # A partial write into a damaged chunk fails and leaves no trace.
        c0, files = b.commit["id"], _data_files(b)
        with pytest.raises(octavo.CorruptionError):
            a[5:15, 5:15] = 1  # touches 0.0 (fine), 0.1, 1.0, 1.1
        assert b.commit["id"] == c0 and _data_files(b) == files
        # A whole-chunk overwrite repairs it (no need to read the damaged bytes).
        a[10:20, 10:20] = 5
        assert (a[10:, 10:] == 5).all()


def test_invalid_zarr_json_on_import(bundle, tmp_path):
    pytest.importorskip("zarr")
    cases = {
        "notjson": "{",
        "shape": '{"zarr_format": 3, "node_type": "array", "shape": "oops"}',
        "v2": '{"zarr_format": 2}',
    }
    for name, text in cases.items():
        d = tmp_path / f"{name}.zarr"
        d.mkdir()
        (d / "zarr.json").write_text(text)
        with pytest.raises(octavo.OctavoError):
            bundle.import_zarr(str(d), "/x")
    assert "/x" not in bundle


@pytest.mark.parametrize("compressor", ["zstd", "blosc:lz4", "lz4", "gzip", "none"])
def test_flipped_chunk_byte_is_corruption_never_wrong_numbers(bundle_path, compressor):
    """Each chunk's CRC-32 is in the manifest: a flipped byte (which zstd without checksum,
    lz4, blosc or no compression would decode to different numbers) is CorruptionError."""
    pytest.importorskip("zarr")
    with octavo.open(bundle_path, "a") as b:
        b.create_array("/arr", np.arange(400, dtype="int32").reshape(20, 20), chunks=(10, 10),
                       compressor=compressor)
        refs = {k: f for k, f, _, crc in b["/arr"]._native.chunk_refs()}
        assert all(crc >= 0 for *_, crc in b["/arr"]._native.chunk_refs())
    for key, off in (("0.1", -1), ("1.0", None)):
        path = refs[key]
        if off is None:  # truncate
            os.truncate(path, os.path.getsize(path) - 1)
            continue
        with open(path, "r+b") as f:
            f.seek(off, os.SEEK_END)
            byte = f.read(1)
            f.seek(off, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0x10]))
    with octavo.open(bundle_path, "r") as b:
        a = b["/arr"]
        with pytest.raises(octavo.CorruptionError, match=r"/arr: chunk 0\.1 .*checksum.*restore"):
            a[0, 15]
        with pytest.raises(octavo.CorruptionError, match=r"/arr: chunk 1\.0 "):
            a[15, 0]
        with pytest.raises(octavo.CorruptionError, match=r"chunk (0\.1|1\.0) "):
            a[:]
        z = a.to_zarr()  # zarr-python through octavo's store: the same check
        with pytest.raises(octavo.CorruptionError, match=r"checksum"):
            z[0, 15]
