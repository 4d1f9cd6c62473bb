"""File nodes (content-addressed bytes) and typed numpy attributes."""
import hashlib
import io
import json
import os

import numpy as np
import pytest

import octavo


@pytest.fixture
def bundle(tmp_path):
    b = octavo.open(tmp_path / "b.octavo", "w")
    yield b
    b.close()


def blobs(bundle_path):
    root = os.path.join(bundle_path, "data", "files")
    out = []
    for d, _, files in os.walk(root):
        if os.path.basename(d) != "tmp":
            out += [os.path.join(d, f) for f in files]
    return out


def test_create_file_streams_and_commits_on_close(bundle):
    before = bundle.commit["id"]
    f = bundle.create_file("/notes/readme.txt")
    f.write(b"line one\n")
    f.write(memoryview(b"line two\n"))
    f.write(bytearray(b"last"))
    assert "/notes/readme.txt" not in bundle  # nothing visible before close
    assert f.tell() == 22
    f.close()
    assert bundle.commit["id"] == before + 1
    node = bundle["/notes/readme.txt"]
    assert isinstance(node, octavo.FileNode)
    assert node.size == 22
    assert node.digest == "blake2b-256:" + hashlib.blake2b(b"line one\nline two\nlast", digest_size=32).hexdigest()
    assert node.read() == b"line one\nline two\nlast"
    with bundle.open_file("/notes/readme.txt", "r") as t:
        assert list(t) == ["line one\n", "line two\n", "last"]


def test_numpy_buffers_are_written_without_conversion(bundle):
    a = np.arange(1000, dtype=np.float64).reshape(10, 100)
    with bundle.create_file("/raw.bin") as f:
        f.write(a)  # any buffer: numpy arrays included
    assert np.array_equal(np.frombuffer(bundle["/raw.bin"].read(), dtype=np.float64).reshape(10, 100), a)


def test_reader_is_seekable(bundle):
    data = bytes(range(256)) * 1000
    with bundle.create_file("/b.bin") as f:
        f.write(data)
    r = bundle.open_file("/b.bin")
    assert r.seekable()
    r.seek(1000)
    assert r.read(10) == data[1000:1010]
    r.seek(-5, io.SEEK_END)
    assert r.read() == data[-5:]
    r.seek(10)
    r.seek(5, io.SEEK_CUR)
    assert r.tell() == 15
    assert r.read(3) == data[15:18]
    r.seek(len(data) + 100)
    assert r.read(10) == b""
    with pytest.raises(octavo.InvalidArgumentError):
        r.seek(-1)


def test_large_file_streams_in_constant_memory(bundle, tmp_path):
    chunk = os.urandom(1 << 20)
    h = hashlib.blake2b(digest_size=32)
    with bundle.create_file("/big.bin") as f:
        for i in range(40):
            piece = bytes([i]) + chunk[1:]
            f.write(piece)
            h.update(piece)
    assert bundle["/big.bin"].size == 40 << 20
    assert bundle["/big.bin"].digest.endswith(h.hexdigest())
    out = tmp_path / "out.bin"
    bundle.get_file("/big.bin", out)
    assert out.stat().st_size == 40 << 20
    with open(out, "rb") as fh:
        fh.seek(7 << 20)
        assert fh.read(1) == bytes([7])


def test_same_bytes_stored_once(bundle):
    data = os.urandom(100_000)
    for name in ("/a", "/b", "/g/c"):
        with bundle.create_file(name) as f:
            f.write(data)
    with bundle.create_file("/d") as f:
        f.write(data + b"!")
    assert len(blobs(bundle.path)) == 2
    assert bundle["/a"].digest == bundle["/g/c"].digest != bundle["/d"].digest


def test_put_and_get_file(bundle, tmp_path):
    src = tmp_path / "image.png"
    src.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000))
    info = bundle.put_file(src, "/images/image.png")
    assert info["size"] == src.stat().st_size
    dst = tmp_path / "copy.png"
    bundle.get_file("/images/image.png", dst)
    assert dst.read_bytes() == src.read_bytes()
    assert not [p for p in os.listdir(tmp_path) if "octavo-tmp" in p]
    with pytest.raises(octavo.NotFoundError, match="no-such"):
        bundle.put_file(tmp_path / "no-such.png", "/x")
    assert "/x" not in bundle


def _tiny_png(w, h):
    """A real RGB PNG built with zlib, so the test needs no image library to write it."""
    import struct
    import zlib

    rows = b"".join(b"\x00" + b"".join(bytes([x * 60, y * 80, 100]) for x in range(w)) for y in range(h))

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_pil_opens_an_image_file_node(bundle):
    from PIL import Image

    with bundle.create_file("/images/tiny.png") as f:
        f.write(_tiny_png(4, 3))
    with bundle.open_file("/images/tiny.png") as f:
        img = Image.open(f)
        img.load()
    assert img.size == (4, 3)
    assert img.getpixel((2, 1)) == (120, 80, 100)


def test_abort_and_exception_store_nothing(bundle):
    before = bundle.commit["id"]
    with pytest.raises(RuntimeError):
        with bundle.create_file("/f") as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    w = bundle.create_file("/g")
    w.write(b"x" * 10)
    w.abort()
    assert "/f" not in bundle and "/g" not in bundle
    assert bundle.commit["id"] == before
    assert blobs(bundle.path) == []
    assert os.listdir(os.path.join(bundle.path, "data", "files", "tmp")) == []


def test_existing_names_and_overwrite(bundle):
    bundle.create_group("/grp")
    with pytest.raises(octavo.AlreadyExistsError, match="group"):
        bundle.create_file("/grp")
    with bundle.create_file("/f") as f:
        f.write(b"one")
    with pytest.raises(octavo.AlreadyExistsError, match="overwrite"):
        bundle.create_file("/f")
    bundle["/f"].attrs["mime"] = "text/plain"
    with bundle.create_file("/f", overwrite=True) as f:
        f.write(b"two")
    assert bundle["/f"].read() == b"two"
    assert bundle["/f"].attrs["mime"] == "text/plain"  # attributes survive a rewrite
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_file("/../etc/passwd")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_file("/")


def test_readers_keep_their_snapshot(tmp_path):
    path = tmp_path / "b"
    w = octavo.open(path, "w")
    with w.create_file("/f") as f:
        f.write(b"old")
    r = octavo.open(path)
    with w.create_file("/f", overwrite=True) as f:
        f.write(b"new")
    assert r["/f"].read() == b"old"
    r.refresh()
    assert r["/f"].read() == b"new"
    old = octavo.open(path, commit=r.commits()[-2]["id"])
    assert old["/f"].read() == b"old"


def test_hierarchy_operations_on_file_nodes(bundle):
    with bundle.create_file("/a/f.txt") as f:
        f.write(b"abc")
    bundle.copy_node("/a", newparent="/", newname="b")
    bundle.move_node("/a/f.txt", "/c", "g.txt")
    assert bundle["/b/f.txt"].read() == b"abc"
    assert bundle["/c/g.txt"].read() == b"abc"
    assert len(blobs(bundle.path)) == 1  # copies share the content
    bundle.create_soft_link("/link", target="/c/g.txt")
    assert bundle["/link"].read() == b"abc"
    assert [n.path for n in bundle.walk_nodes("/", kind="file")] == ["/b/f.txt", "/c/g.txt"]
    bundle.remove_node("/b", recursive=True)
    assert "/b/f.txt" not in bundle


def test_wrong_kind_and_missing(bundle):
    bundle.create_group("/g")
    with pytest.raises(octavo.SchemaError, match="not a file node"):
        bundle.open_file("/g")
    with pytest.raises(octavo.NotFoundError):
        bundle.open_file("/nope")
    with bundle.create_file("/f") as f:
        f.write(b"abc")
    with pytest.raises(octavo.InvalidArgumentError, match="mode"):
        bundle.open_file("/f", "wb")


def _blob(bundle, path):
    return os.path.join(bundle.path, bundle.file_info(path)["blob"])


def test_damaged_content_is_detected(bundle, tmp_path):
    data = os.urandom(10_000)
    with bundle.create_file("/f") as f:
        f.write(data)
    blob = _blob(bundle, "/f")
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as fh:  # same size, one byte changed
        fh.seek(5000)
        fh.write(bytes([data[5000] ^ 0xFF]))
    with pytest.raises(octavo.CorruptionError, match="damaged at bytes 0-9999"):
        bundle["/f"].verify()
    with pytest.raises(octavo.CorruptionError, match="damaged"):
        bundle.get_file("/f", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with bundle.open_file("/f") as fh:  # a random read checks the bytes it returns too
        fh.seek(5000)
        with pytest.raises(octavo.CorruptionError, match="block checksum"):
            fh.read(1)
    with open(blob, "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(octavo.CorruptionError, match="truncated"):
        bundle.open_file("/f")
    os.remove(blob)
    with pytest.raises(octavo.CorruptionError, match="missing"):
        bundle.open_file("/f")


# --- typed numpy attributes ------------------------------------------------------------


@pytest.mark.parametrize("value", [
    np.float32(1.5), np.int16(-7), np.uint64(2**63 + 5), np.bool_(True), np.float16(0.1), np.complex128(1 + 2j),
    np.float64("nan"), np.datetime64("2026-11-21T10:00:00", "ns"), np.timedelta64(5, "s"), np.bytes_(b"ab\x00c"),
    np.str_("héllo"),
])
def test_numpy_scalar_attributes_keep_their_dtype(bundle, value):
    g = bundle.create_group("/g")
    g.attrs["v"] = value
    back = octavo.open(bundle.path)["/g"].attrs["v"]
    assert type(back) is type(value)
    assert back.dtype == value.dtype
    if isinstance(value, np.floating) and np.isnan(value):
        assert np.isnan(back)
    else:
        assert back == value


@pytest.mark.parametrize("arr", [
    np.arange(12, dtype=np.int32).reshape(3, 4),
    np.linspace(0, 1, 6, dtype=np.float64).reshape(2, 3),
    np.array([1.0, np.nan, np.inf], dtype=np.float32),
    np.array([[True, False]]),
    np.array([1 + 1j, 2 - 3j], dtype=np.complex64),
    np.arange(4, dtype=">i8"),
    np.array([b"ab", b"xyz"]),
    np.array(["α", "βγ"]),
    np.zeros((0, 3), dtype=np.uint8),
    np.array(["2020-01-01", "NaT"], dtype="datetime64[ms]"),
])
def test_numpy_array_attributes_round_trip(bundle, arr):
    t = bundle.create_table("/t", {"x": [1, 2]}) if "/t" not in bundle else bundle["/t"]
    t.attrs["a"] = arr
    back = octavo.open(bundle.path)["/t"].attrs["a"]
    assert isinstance(back, np.ndarray)
    assert back.shape == arr.shape
    assert back.dtype == arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_typed_attributes_are_documented_json(bundle):
    g = bundle.create_group("/g")
    g.attrs["gain"] = np.float32(2.5)
    g.attrs["m"] = np.eye(2, dtype=np.int8)
    g.attrs["mixed"] = {"n": np.int64(3), "list": [np.float32(1.0), "s"]}
    raw = json.loads(bundle._native.get_attrs("/g"))
    assert raw["gain"] == {"@ndarray": {"dtype": "<f4", "shape": [], "data": [2.5]}}
    assert raw["m"] == {"@ndarray": {"dtype": "|i1", "shape": [2, 2], "data": [1, 0, 0, 1]}}
    mixed = g.attrs["mixed"]
    assert mixed["n"] == 3 and mixed["n"].dtype == np.int64
    assert mixed["list"][0].dtype == np.float32 and mixed["list"][1] == "s"
    # plain Python values stay plain JSON
    g.attrs["plain"] = [1, 2.5, "x"]
    assert json.loads(bundle._native.get_attrs("/g"))["plain"] == [1, 2.5, "x"]


def test_attribute_errors(bundle):
    g = bundle.create_group("/g")
    with pytest.raises(octavo.SchemaError, match="object"):
        g.attrs["o"] = np.array([object()], dtype=object)
    with pytest.raises(octavo.SchemaError, match="create_array"):
        g.attrs["big"] = np.zeros(1 << 20)
    with pytest.raises(octavo.SchemaError, match="reserved"):
        g.attrs["r"] = {"@ndarray": 1}
    with pytest.raises(octavo.SchemaError, match="not JSON"):
        g.attrs["x"] = object()
    assert list(g.attrs) == []
    # A damaged typed value reads back as a clear error, not garbage.
    bundle._native.set_attr("/g", "bad", json.dumps({"@ndarray": {"dtype": "<f4", "shape": [3], "data": [1]}}))
    with pytest.raises(octavo.SchemaError, match="invalid typed numpy attribute"):
        g.attrs["bad"]
    bundle._native.set_attr("/g", "evil", json.dumps({"@ndarray": {"dtype": "O", "shape": [], "data": [1]}}))
    with pytest.raises(octavo.SchemaError):
        g.attrs["evil"]


def test_append_mode_and_node_as_file(bundle):
    with bundle.create_file("/text_file") as f:
        f.write(b"This is a sample line.\n")
        f.write(b"Write a second line.\n")
    first = bundle["/text_file"].digest
    with bundle.open_file("/text_file", "ab") as f:
        f.write(b"Write a third line.\n")
    node = bundle["/text_file"]
    assert list(node) == [b"This is a sample line.\n", b"Write a second line.\n", b"Write a third line.\n"]
    node.seek(5)
    assert node.read(2) == b"is" and node.tell() == 7
    assert node.readline() == b" a sample line.\n"
    assert node.digest != first
    # the old content is still there, at the old commit
    old = octavo.open(bundle.path, commit=bundle.commits()[-2]["id"])
    assert old["/text_file"].read() == b"This is a sample line.\nWrite a second line.\n"
    with bundle.open_file("/new_file", "ab") as f:  # appending to a missing node creates it
        f.write(b"x")
    assert bundle["/new_file"].read() == b"x"


def test_pil_reads_the_node_itself(bundle):
    from PIL import Image

    with bundle.create_file("/tuscany/small08") as f:
        Image.new("RGB", (30, 20), (10, 200, 30)).save(f, format="png")
    image = Image.open(bundle.root.tuscany.small08)
    assert image.size == (30, 20) and image.getpixel((5, 5)) == (10, 200, 30)
