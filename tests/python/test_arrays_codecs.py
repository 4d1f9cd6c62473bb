"""Array codecs (blosc, lz4, zstd, gzip, shuffle) and dtypes (float16, complex, fixed-width
strings, big-endian input): octavo <-> zarr-python interop both ways, chunk bytes checked
against numcodecs' own decoders."""
import json
import os
import warnings

import numpy as np
import pytest

import octavo

zarr = pytest.importorskip("zarr")
numcodecs = pytest.importorskip("numcodecs")


def _zarr_open(store):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return zarr.open(store=store, mode="r")


def _as_zarr_dir(a, d):
    """Lay an octavo array's files out as a plain Zarr v3 directory (default key encoding)."""
    d.mkdir()
    (d / "zarr.json").write_text(a.info()["zarr_json"])
    for key, file, _, _ in a._native.chunk_refs():
        dest = d / "c" / "/".join(key.split(".")) if key else d / "c"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(open(file, "rb").read())
    return str(d)


def _smooth(shape, dtype="float32"):
    grids = np.meshgrid(*[np.linspace(0, 3, n) for n in shape], indexing="ij")
    return np.sin(sum(grids)).astype(dtype)


# --- blosc ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cname", ["blosclz", "lz4", "lz4hc", "zlib", "zstd"])
@pytest.mark.parametrize("shuffle", [False, True, "bitshuffle"])
def test_blosc_round_trip_and_zarr_python_reads_it(bundle, tmp_path, cname, shuffle):
    data = np.round(_smooth((40, 32, 24)), 3)
    a = bundle.create_array("/b", data, chunks=(16, 16, 8), compressor=f"blosc:{cname}", shuffle=shuffle, level=7,
                            blocksize=0 if shuffle != "bitshuffle" else 4096)
    np.testing.assert_array_equal(a[:], data)
    np.testing.assert_array_equal(a[3:30:4, ::-1, 5], data[3:30:4, ::-1, 5])
    info = a.info()
    assert info["compressor"] == f"blosc:{cname}" and info["compression_level"] == 7
    assert info["shuffle"] == (shuffle is True) and info["bitshuffle"] == (shuffle == "bitshuffle")
    conf = json.loads(info["zarr_json"])["codecs"][-1]
    assert conf["name"] == "blosc"
    assert conf["configuration"]["cname"] == cname and conf["configuration"]["typesize"] == 4
    assert conf["configuration"]["shuffle"] == {False: "noshuffle", True: "shuffle"}.get(shuffle, shuffle)
    if shuffle:
        assert info["size_bytes"] < info["logical_bytes"]
    # zarr-python reads the bundle through the store, and the files as a plain Zarr directory.
    np.testing.assert_array_equal(_zarr_open(a.zarr_store())[:], data)
    np.testing.assert_array_equal(zarr.open_array(_as_zarr_dir(a, tmp_path / "z.zarr"), mode="r")[:], data)
    # Each chunk file is a genuine blosc buffer numcodecs decodes.
    key, file, _, _ = a._native.chunk_refs()[0]
    raw = numcodecs.Blosc().decode(open(file, "rb").read())
    np.testing.assert_array_equal(np.frombuffer(raw, "float32").reshape(16, 16, 8), data[:16, :16, :8])


@pytest.mark.parametrize("cname,shuffle", [("lz4", "shuffle"), ("zstd", "bitshuffle"), ("blosclz", "noshuffle"),
                                           ("zlib", "shuffle")])
@pytest.mark.parametrize("dtype", ["int16", "float64", "uint8"])
def test_zarr_python_blosc_arrays_import(bundle, tmp_path, cname, shuffle, dtype):
    data = (_smooth((33, 17), "float64") * 100).astype(dtype)
    src = zarr.create_array(str(tmp_path / "src.zarr"), shape=data.shape, chunks=(10, 8), dtype=dtype,
                            compressors=zarr.codecs.BloscCodec(cname=cname, clevel=3, shuffle=shuffle))
    src[:] = data
    imp = bundle.import_zarr(str(tmp_path / "src.zarr"), "/imp", compressor=f"blosc:{cname}", level=3,
                             shuffle={"shuffle": True, "noshuffle": False}.get(shuffle, shuffle))
    np.testing.assert_array_equal(imp[:], data)
    assert imp.compressor == f"blosc:{cname}"
    # ... and octavo's re-encoded chunks are what zarr-python would have written: same decode.
    np.testing.assert_array_equal(_zarr_open(imp.zarr_store())[:], data)


@pytest.mark.parametrize("compressor,decoder", [
    ("lz4", lambda: numcodecs.LZ4()), ("zstd", lambda: numcodecs.Zstd()), ("gzip", lambda: numcodecs.GZip()),
    ("zlib", lambda: numcodecs.Zlib())])
def test_chunk_files_decode_with_numcodecs(bundle, compressor, decoder):
    """The lz4/zstd/gzip/zlib chunk bytes are the real codecs' formats, not look-alikes."""
    data = np.arange(5000, dtype="int64") % 97
    a = bundle.create_array("/x", data, chunks=(2000,), compressor=compressor, level=5)
    key, file, size, _ = sorted(a._native.chunk_refs())[0]
    blob = open(file, "rb").read()
    assert len(blob) == size < 2000 * 8 / 2  # compressed for real
    np.testing.assert_array_equal(np.frombuffer(decoder().decode(blob), "int64"), data[:2000])


def test_none_and_shuffle_are_plain(bundle):
    data = np.arange(100, dtype="int32")
    a = bundle.create_array("/n", data, chunks=(100,), compressor="none")
    assert open(a._native.chunk_refs()[0][1], "rb").read() == data.tobytes()
    s = bundle.create_array("/s", data, chunks=(100,), compressor="none", shuffle=True)
    assert open(s._native.chunk_refs()[0][1], "rb").read() == bytes(numcodecs.Shuffle(elementsize=4).encode(data))
    assert s.info()["codecs"] == "bytes(little) | shuffle(elementsize=4)"


def test_blosc_bad_options(bundle):
    with pytest.raises(octavo.InvalidArgumentError, match="blosc"):
        bundle.create_array("/x", shape=(4,), dtype="int8", compressor="blosc:snappy")
    with pytest.raises(octavo.InvalidArgumentError, match="bitshuffle"):
        bundle.create_array("/x", shape=(4,), dtype="int8", compressor="zstd", shuffle="bitshuffle")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/x", shape=(4,), dtype="int8", compressor="blosc", level=12)
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/x", shape=(4,), dtype="int8", shuffle="sideways")
    assert "/x" not in bundle


@pytest.mark.parametrize("dtype, value, why", [
    ("int8", 200, "out of range"), ("uint8", -1, "negative"), ("int32", 1.5, "use an integer"),
    ("int16", True, "use an integer"), ("uint64", 2**64, "out of range"), ("float32", 1 + 2j, "complex"),
    ("U3", b"ab", "bytes fill only S"), ("float64", "x", "text fills only"), ("S2", "\u00e9\u00e9", "longer"),
    ("int8", object(), "not valid"),
])
def test_fill_value_rules_come_from_the_engine(bundle, dtype, value, why):
    with pytest.raises(octavo.InvalidArgumentError, match=why):
        bundle.create_array("/x", shape=(2,), dtype=dtype, fill_value=value)
    assert "/x" not in bundle


@pytest.mark.parametrize("dtype, value", [
    ("uint64", np.uint64(2**64 - 1)), ("int8", np.int8(-128)), ("float16", np.float16(-0.5)),
    ("complex64", np.complex64(1 - 2j)), ("complex128", 3), ("float64", -np.inf), ("S3", "ab"), ("S3", np.bytes_(b"a")),
    ("U2", np.str_("\u00e9")), ("bool", np.bool_(True)), ("int64", np.array(7)), ("float32", 2),
])
def test_fill_values_round_trip_through_info(bundle, dtype, value):
    a = bundle.create_array("/a", shape=(2,), dtype=dtype, fill_value=value)
    want = np.array(value.encode() if isinstance(value, str) and dtype[0] == "S" else value).astype(dtype)
    assert a.fill_value == want
    assert a.fill_value.dtype.kind == np.dtype(dtype).kind  # numpy sizes S/U scalars to their value
    np.testing.assert_array_equal(a[:], np.full(2, want))
    # the Zarr metadata says the same to zarr-python
    z = json.loads(a.info()["zarr_json"])
    assert "fill_value" in z


def test_default_fill_is_the_types_zero(bundle):
    for dt in ["bool", "uint16", "float64", "complex64", "S2", "U2"]:
        a = bundle.create_array(f"/d_{dt}", shape=(2,), dtype=dt)
        assert a.fill_value == np.zeros((), dtype=dt)


# --- dtypes ------------------------------------------------------------------------------------

def _dtype_samples():
    rng = np.random.default_rng(3)
    return {
        "float16": rng.normal(size=(9, 7)).astype("float16"),
        "complex64": (rng.normal(size=(9, 7)) + 1j * rng.normal(size=(9, 7))).astype("complex64"),
        "complex128": rng.normal(size=(9, 7)) * (1 - 2j),
        "S6": np.array([[b"ab", b"", b"abcdef", b"x\x00y"] * 7] * 9, dtype="S6")[:, :7],
        "U5": np.array([["h\u00e9llo", "", "\u4e16\u754c", "\U0001F600a"] * 7] * 9, dtype="U5")[:, :7],
        "bool": rng.normal(size=(9, 7)) > 0,
    }


@pytest.mark.parametrize("name", list(_dtype_samples()))
def test_dtypes_round_trip_and_zarr_python_reads_them(bundle, tmp_path, name):
    data = _dtype_samples()[name]
    a = bundle.create_array("/d", data, chunks=(4, 3), compressor="blosc:lz4", shuffle=True)
    assert a.dtype == data.dtype
    got = a[:]
    assert got.dtype == data.dtype
    np.testing.assert_array_equal(got, data)
    np.testing.assert_array_equal(a[::-2, 1:6], data[::-2, 1:6])
    z = zarr.open_array(_as_zarr_dir(a, tmp_path / "d.zarr"), mode="r")
    assert z.dtype == data.dtype
    np.testing.assert_array_equal(z[:], data)
    np.testing.assert_array_equal(_zarr_open(a.zarr_store())[:], data)


@pytest.mark.parametrize("name", list(_dtype_samples()))
def test_zarr_python_dtypes_import(bundle, tmp_path, name):
    data = _dtype_samples()[name]
    src = zarr.create_array(str(tmp_path / "s.zarr"), shape=data.shape, chunks=(4, 4), dtype=data.dtype)
    src[:] = data
    # The Zarr metadata octavo writes names the data type as zarr-python does.
    theirs = json.load(open(tmp_path / "s.zarr" / "zarr.json"))
    imp = bundle.import_zarr(str(tmp_path / "s.zarr"), "/i")
    np.testing.assert_array_equal(imp[:], data)
    assert imp.dtype == data.dtype
    ours = json.loads(imp.info()["zarr_json"])
    assert ours["data_type"] == theirs["data_type"]
    assert ours["fill_value"] == theirs["fill_value"]


def test_fill_values_of_new_dtypes(bundle):
    c = bundle.create_array("/c", shape=(3,), dtype="complex128", fill_value=complex(1.5, np.nan))
    v = c[:]
    assert (v.real == 1.5).all() and np.isnan(v.imag).all()
    assert json.loads(c.info()["zarr_json"])["fill_value"] == [1.5, "NaN"]
    h = bundle.create_array("/h", shape=(2,), dtype="float16", fill_value=np.inf)
    assert np.isinf(h[:]).all() and h[:].dtype == np.float16
    s = bundle.create_array("/s", shape=(2,), dtype="S4", fill_value=b"ab")
    assert s[:].tolist() == [b"ab", b"ab"] and s.fill_value == b"ab"
    u = bundle.create_array("/u", shape=(2,), dtype="U3", fill_value="\u00e9t\u00e9")
    assert u[:].tolist() == ["\u00e9t\u00e9"] * 2
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/x", shape=(2,), dtype="S2", fill_value=b"abc")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_array("/x", shape=(2,), dtype="U2", fill_value="abc")
    assert "/x" not in bundle


def test_string_writes_check_kind_and_length(bundle):
    s = bundle.create_array("/s", np.array([b"aa", b"bb", b"cc"]))
    s[1] = b"z"
    assert s[:].tolist() == [b"aa", b"z", b"cc"]
    with pytest.raises(octavo.SchemaError, match="bytes"):
        s[0] = "text"
    with pytest.raises(octavo.SchemaError, match="length 3"):
        s[0] = b"abc"
    u = bundle.create_array("/u", np.array(["ab", "cd"]))
    with pytest.raises(octavo.SchemaError):
        u[0] = b"ab"
    with pytest.raises(octavo.SchemaError):
        u[:] = np.array(["abc", "d"])
    assert u[:].tolist() == ["ab", "cd"] and s[:].tolist() == [b"aa", b"z", b"cc"]
    with pytest.raises(octavo.SchemaError):
        bundle.create_array("/o", np.array([1, "a"], dtype=object))
    with pytest.raises(octavo.SchemaError):
        bundle.create_array("/v", np.zeros(3, dtype="V4"))


@pytest.mark.parametrize("dtype", [">i4", ">f8", ">c16", ">U3", ">f2"])
def test_big_endian_input_is_converted(bundle, dtype):
    base = np.arange(12).reshape(3, 4)
    data = base.astype(str).astype(dtype) if "U" in dtype else base.astype(dtype)
    a = bundle.create_array("/be", data)
    assert a.dtype == data.dtype.newbyteorder("=")
    np.testing.assert_array_equal(a[:], data)
    a[0] = data[2]
    np.testing.assert_array_equal(a[0], data[2])
    meta = json.loads(a.info()["zarr_json"])
    assert meta["codecs"][0] == {"name": "bytes", "configuration": {"endian": "little"}}


@pytest.mark.parametrize("dtype", ["int32", "complex64", "U2"])
def test_big_endian_zarr_files_read(bundle, tmp_path, dtype):
    """A Zarr array stored with bytes(endian=big) (as other Zarr writers may) reads right, in
    zarr-python and through octavo's import."""
    base = np.arange(6).reshape(2, 3)
    data = base.astype(str).astype(dtype) if dtype == "U2" else base.astype(dtype)
    src = zarr.create_array(str(tmp_path / "big.zarr"), shape=data.shape, chunks=(2, 3), dtype=dtype,
                            serializer=zarr.codecs.BytesCodec(endian="big"), compressors=None)
    src[:] = data
    meta = json.load(open(tmp_path / "big.zarr" / "zarr.json"))
    assert meta["codecs"][0]["configuration"]["endian"] == "big"
    chunk = open(tmp_path / "big.zarr" / "c" / "0" / "0", "rb").read()
    assert chunk == data.astype(data.dtype.newbyteorder(">")).tobytes()
    imp = bundle.import_zarr(str(tmp_path / "big.zarr"), "/big")
    np.testing.assert_array_equal(imp[:], data)


# --- native (byte-for-byte) import of Zarr directories ------------------------------------------

@pytest.mark.parametrize("codec", ["blosc-lz4", "blosc-zstd-bit", "zstd", "gzip", "none"])
def test_import_zarr_directory_copies_chunks_byte_for_byte(bundle, tmp_path, codec):
    comp = {"blosc-lz4": zarr.codecs.BloscCodec(cname="lz4", shuffle="shuffle"),
            "blosc-zstd-bit": zarr.codecs.BloscCodec(cname="zstd", clevel=9, shuffle="bitshuffle"),
            "zstd": zarr.codecs.ZstdCodec(level=3), "gzip": zarr.codecs.GzipCodec(level=4), "none": None}[codec]
    data = np.round(_smooth((30, 20, 10), "float64"), 2)
    data[:10] = 7.0  # whole chunks of fill_value: zarr-python does not store them
    src = zarr.create_array(str(tmp_path / "s.zarr"), shape=data.shape, chunks=(10, 8, 10), dtype="float64",
                            fill_value=7.0, compressors=comp, attributes={"units": "mV"},
                            dimension_names=["t", "y", "x"])
    src[:] = data
    c0 = bundle.commit["id"]
    imp = bundle.import_zarr(str(tmp_path / "s.zarr"), "/g/imp")
    assert bundle.commit["id"] == c0 + 1
    np.testing.assert_array_equal(imp[:], data)
    assert imp.fill_value == 7.0 and imp.attrs["units"] == "mV"
    meta = json.loads(imp.info()["zarr_json"])
    assert meta["codecs"] == json.load(open(tmp_path / "s.zarr" / "zarr.json"))["codecs"]
    assert meta["dimension_names"] == ["t", "y", "x"]
    refs = imp._native.chunk_refs()
    theirs = {os.path.relpath(os.path.join(r, f), tmp_path / "s.zarr" / "c").replace(os.sep, ".")
              for r, _, fs in os.walk(tmp_path / "s.zarr" / "c") for f in fs}
    assert {k for k, *_ in refs} == theirs
    for key, file, *_ in refs:
        assert open(file, "rb").read() == open(tmp_path / "s.zarr" / "c" / key.replace(".", "/"), "rb").read()
    # octavo can keep writing with the imported encoding, and zarr-python reads the result.
    imp[0, 0, 0] = -1.0
    data[0, 0, 0] = -1.0
    np.testing.assert_array_equal(_zarr_open(imp.zarr_store())[:], data)


def test_import_zarr_array_object_and_group_use_native_copy(bundle, tmp_path):
    root = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    x = root.create_array("x", shape=(8, 8), chunks=(4, 4), dtype="int16",
                          compressors=zarr.codecs.BloscCodec(cname="zstd", shuffle="shuffle"))
    x[:] = np.arange(64).reshape(8, 8)
    s = root.create_array("sub/s", shape=(3,), chunks=(2,), dtype="U3")
    s[:] = ["a", "bb", "ccc"]
    imp = bundle.import_zarr(x, "/x")
    assert imp.compressor == "blosc:zstd"  # kept, not re-encoded to zstd
    bundle.import_zarr(str(tmp_path / "g.zarr"), "/g")
    assert bundle["/g/x"].compressor == "blosc:zstd"
    assert bundle["/g/sub/s"][:].tolist() == ["a", "bb", "ccc"]
    np.testing.assert_array_equal(bundle["/g/x"][:], np.arange(64).reshape(8, 8))
    # An explicit compressor re-encodes.
    assert bundle.import_zarr(x, "/x2", compressor="lz4").compressor == "lz4"


def test_import_zarr_unsupported_codec_falls_back_to_zarr_python(bundle, tmp_path):
    src = zarr.create_array(str(tmp_path / "sh.zarr"), shape=(16, 16), chunks=(4, 4), shards=(8, 8), dtype="int32")
    src[:] = np.arange(256).reshape(16, 16)
    imp = bundle.import_zarr(str(tmp_path / "sh.zarr"), "/sh")
    np.testing.assert_array_equal(imp[:], np.arange(256).reshape(16, 16))
    assert imp.compressor == "zstd"


def test_import_zarr_corrupt_chunk_names_it_and_writes_nothing(bundle, tmp_path):
    src = zarr.create_array(str(tmp_path / "c.zarr"), shape=(20,), chunks=(5,), dtype="float32",
                            compressors=zarr.codecs.BloscCodec(cname="lz4"))
    src[:] = np.arange(20, dtype="float32")
    victim = tmp_path / "c.zarr" / "c" / "2"
    raw = bytearray(victim.read_bytes())
    raw[20:] = b"\xff" * (len(raw) - 20)
    victim.write_bytes(bytes(raw[:-3]))
    c0 = bundle.commit["id"]
    data_dir = os.path.join(bundle.path, "data")
    before = sorted(os.walk(data_dir)) if os.path.isdir(data_dir) else []
    with pytest.raises(octavo.CorruptionError, match=r"c/2"):
        bundle.import_zarr(str(tmp_path / "c.zarr"), "/c")
    assert bundle.commit["id"] == c0 and "/c" not in bundle
    after = sorted(os.walk(data_dir)) if os.path.isdir(data_dir) else []
    assert [f for _, _, fs in after for f in fs] == [f for _, _, fs in before for f in fs]
