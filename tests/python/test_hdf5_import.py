"""Generic PyTables/HDF5 import (C++, src/hdf5/pytables.cc): files written by PyTables,
pandas and h5py here, imported into bundles via Python and the CLI, and compared with
what PyTables reads back."""
import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import tables as tb

import octavo
from octavo import fileio

OCTAVO = shutil.which("octavo")


class Inner(tb.IsDescription):
    x = tb.Int16Col(pos=0)
    y = tb.Float32Col(pos=1)


class Reading(tb.IsDescription):
    id = tb.Int64Col(pos=0)
    name = tb.StringCol(12, pos=1)
    pressure = tb.Float64Col(pos=2)
    grid = tb.Float64Col(shape=(2, 3), pos=3)
    vec = tb.Int32Col(shape=(4,), pos=4)
    color = tb.EnumCol(tb.Enum(["red", "green", "blue"]), "red", base="uint8", pos=5)
    flag = tb.BoolCol(pos=6)
    inner = Inner()


def make_pytables_file(path, n=257):
    rng = np.random.default_rng(0)
    with tb.open_file(path, "w", title="test file") as f:
        f.root._v_attrs.experiment = "e1"
        g = f.create_group("/", "detector", "Detector information")
        g._v_attrs.threshold = 3.5
        g._v_attrs.channels = np.array([1, 2, 3], dtype=np.int32)
        g._v_attrs.meta = {"a": [1, 2], "b": "x"}
        g._v_attrs.missing = np.nan  # not a JSON number: kept through the typed form
        g._v_attrs.limits = np.array([-np.inf, 0.5, np.inf], dtype=np.float32)
        t = f.create_table(g, "readout", Reading, "Readout example")
        row = t.row
        for i in range(n):
            row["id"] = i
            row["name"] = f"particle {i}".encode()
            row["pressure"] = float(i) * 1.5
            row["grid"] = np.arange(6, dtype=float).reshape(2, 3) + i
            row["vec"] = np.arange(4) * i
            row["color"] = i % 3
            row["flag"] = i % 2 == 0
            row["inner/x"] = i % 100
            row["inner/y"] = i / 4
            row.append()
        t.flush()
        t.attrs.units = "bar"
        # big-endian table
        be = f.create_table("/", "bigendian", {"a": tb.Int32Col(pos=0), "b": tb.Float64Col(pos=1)}, byteorder="big")
        be.append([(i, i * 0.5) for i in range(10)])
        # arrays
        filt = tb.Filters(complevel=5, complib="zlib", shuffle=True, fletcher32=True)
        vol = rng.standard_normal((40, 30, 20))
        ca = f.create_carray("/", "volume", obj=vol, filters=filt, chunkshape=(7, 30, 20))
        ca.attrs.scale = 2.0
        ea = f.create_earray("/", "stream", tb.Int16Atom(), (0, 5), filters=filt)
        for k in range(4):
            ea.append(np.full((11, 5), k, dtype=np.int16))
        f.create_array("/", "plain", np.arange(12, dtype=">f4").reshape(3, 4))  # big-endian array
        f.create_array("/", "mask", np.array([True, False, True]))
        f.create_earray("/", "empty", tb.Float64Atom(), (0, 3))
        # VLArrays
        vs = f.create_vlarray("/", "notes", tb.VLStringAtom())
        for s in [b"hello", b"", "caf\u00e9".encode()]:
            vs.append(s)
        vu = f.create_vlarray("/", "unotes", tb.VLUnicodeAtom())
        for s in ["\u00e9t\u00e9", "x" * 100]:
            vu.append(s)
        vi = f.create_vlarray("/", "ragged", tb.Int32Atom())
        vi.append([1, 2, 3])
        vi.append([])
        # links
        f.create_soft_link("/", "latest", "/detector/readout")
        f.create_soft_link(g, "rel", "readout")
    return path


def open_new(tmp_path, name="b.octavo"):
    return octavo.open(tmp_path / name, "a")


def test_import_pytables_everything(tmp_path):
    src = make_pytables_file(tmp_path / "exp.h5")
    with open_new(tmp_path) as b:
        rep = fileio.import_h5(b, src, "/imp")
    assert [i for i in rep["items"] if not i["supported"]] == []
    with octavo.open(tmp_path / "b.octavo") as b, tb.open_file(src) as f:
        # table: every column type
        ref = f.root.detector.readout.read()
        got = b["/imp/detector/readout"].read_arrow()
        assert got.num_rows == len(ref) == 257
        assert got.schema.field("grid").type == pa.list_(pa.list_(pa.float64(), 3), 2)
        assert got.schema.field("vec").type == pa.list_(pa.int32(), 4)
        assert got.schema.field("inner").type == pa.struct([("x", pa.int16()), ("y", pa.float32())])
        assert got.schema.field("color").type == pa.dictionary(pa.int32(), pa.string())
        assert got.schema.field("flag").type == pa.bool_()
        assert got.column("id").to_pylist() == ref["id"].tolist()
        assert got.column("name").to_pylist() == [s.decode() for s in ref["name"]]
        assert got.column("pressure").to_pylist() == ref["pressure"].tolist()
        np.testing.assert_array_equal(np.array(got.column("grid").to_pylist()), ref["grid"])
        np.testing.assert_array_equal(np.array(got.column("vec").to_pylist()), ref["vec"])
        enum = f.root.detector.readout.get_enum("color")
        assert got.column("color").to_pylist() == [enum(v) for v in ref["color"]]
        assert got.column("flag").to_pylist() == ref["flag"].tolist()
        assert [r["x"] for r in got.column("inner").to_pylist()] == ref["inner"]["x"].tolist()
        np.testing.assert_array_equal(np.array([r["y"] for r in got.column("inner").to_pylist()], dtype=np.float32),
                                      ref["inner"]["y"])
        # big-endian -> native values
        be = b["/imp/bigendian"].read_arrow()
        assert be.column("a").to_pylist() == list(range(10))
        assert be.column("b").to_pylist() == [i * 0.5 for i in range(10)]
        # arrays
        np.testing.assert_array_equal(b["/imp/volume"][:], f.root.volume[:])
        np.testing.assert_array_equal(b["/imp/volume"][3:9, 2, ::3], f.root.volume[3:9, 2, ::3])
        assert b["/imp/stream"].shape == (44, 5) and b["/imp/stream"].dtype == np.int16
        np.testing.assert_array_equal(b["/imp/stream"][:], f.root.stream[:])
        np.testing.assert_array_equal(b["/imp/plain"][:], f.root.plain[:].astype("<f4"))
        np.testing.assert_array_equal(b["/imp/mask"][:], [True, False, True])
        assert b["/imp/empty"].shape == (0, 3)
        # VLArrays -> one-column tables
        assert b["/imp/notes"].read_arrow().column("value").to_pylist() == ["hello", "", "caf\u00e9"]
        assert b["/imp/unotes"].read_arrow().column("value").to_pylist() == ["\u00e9t\u00e9", "x" * 100]
        assert b["/imp/ragged"].read_arrow().column("value").to_pylist() == [[1, 2, 3], []]
        # soft links, re-rooted
        assert b.get_link("/imp/latest").target == "/imp/detector/readout"
        assert b.get_link("/imp/detector/rel").target == "/imp/detector/readout"
        assert len(b["/imp/latest"]) == 257
        # attributes: user ones kept (JSON), PyTables bookkeeping dropped
        assert b["/imp"].attrs["experiment"] == "e1"
        assert b["/imp"].attrs["TITLE"] == "test file"
        gattrs = b["/imp/detector"].attrs
        assert gattrs["TITLE"] == "Detector information"
        assert gattrs["threshold"] == 3.5 and gattrs["channels"] == [1, 2, 3]
        assert gattrs["meta"] == {"a": [1, 2], "b": "x"}
        assert np.isnan(gattrs["missing"])  # was silently null
        limits = gattrs["limits"]
        assert limits.dtype == np.float32 and limits.tolist() == [-np.inf, 0.5, np.inf]
        assert "CLASS" not in gattrs and "VERSION" not in gattrs
        tattrs = b["/imp/detector/readout"].attrs
        assert tattrs["units"] == "bar" and not any(k.startswith("FIELD_") for k in tattrs.keys())
        assert b["/imp/volume"].attrs["scale"] == 2.0
        # one commit for the whole import
        commits = b.commits()
        assert len(commits) == 2 and "exp.h5" in commits[-1]["message"]


def test_filenode_becomes_file_node(tmp_path):
    from tables.nodes import filenode

    src = tmp_path / "fn.h5"
    payload = os.urandom(200_000) + b"end"
    with tb.open_file(src, "w") as f:
        node = filenode.new_node(f, where="/", name="config")
        node.write(payload)
        node.close()
        f.root.config.attrs.origin = "lab"
    items = {i["h5_path"]: i for i in fileio.inspect_h5(src)}
    assert items["/config"]["action"] == "file" and items["/config"]["kind"] == "filenode"
    with open_new(tmp_path) as b:
        fileio.import_h5(b, src, "/")
    with octavo.open(tmp_path / "b.octavo") as b:
        with b.open_file("/config") as fh:
            assert fh.read() == payload
        assert b.file_info("/config")["size"] == len(payload)


def test_pandas_groups_become_tables(tmp_path):
    src = tmp_path / "store.h5"
    cols = pd.MultiIndex.from_product([["me"], ["nose", "tail"], ["x", "y", "likelihood"]],
                                      names=["scorer", "bodyparts", "coords"])
    df = pd.DataFrame(np.random.default_rng(1).random((50, 6)), columns=cols)
    df.to_hdf(src, key="df_with_missing", format="table", mode="w")
    s = pd.Series(np.arange(5.0), name="s")
    s.to_hdf(src, key="extra/series", format="fixed", mode="a")
    with tb.open_file(src, "a") as f:
        f.create_array("/", "raw", np.arange(7))
    items = {i["h5_path"]: i for i in fileio.inspect_h5(src)}
    assert items["/df_with_missing"]["kind"] == "pandas" and items["/df_with_missing"]["action"] == "table"
    # pandas internals are not listed as separate objects
    assert not any(p.startswith("/df_with_missing/") for p in items)
    with open_new(tmp_path) as b:
        fileio.import_h5(b, src, "/store")
    with octavo.open(tmp_path / "b.octavo") as b:
        got = b.get_table("/store/df_with_missing", return_type="pandas")
        pd.testing.assert_frame_equal(got, pd.read_hdf(src, "df_with_missing"))
        assert b["/store/extra/series"].read_arrow().num_rows == 5
        assert "non_index_axes" not in b["/store/df_with_missing"].attrs.keys()
        np.testing.assert_array_equal(b["/store/raw"][:], np.arange(7))


def test_string_datasets_become_one_column_tables(tmp_path):
    import h5py

    src = tmp_path / "strings.h5"
    with tb.open_file(src, "w") as f:
        f.create_array("/", "labels", np.array([b"alpha", b"b", b""]))
    with h5py.File(src, "a") as h:
        h.create_dataset("vlen", data=["x", "\u00fcber", "z"], dtype=h5py.string_dtype())
        h.create_dataset("flags", data=np.array([True, False]))  # h5py bool: enum FALSE/TRUE
    items = {i["h5_path"]: i for i in fileio.inspect_h5(src)}
    assert items["/labels"]["action"] == "table" and items["/vlen"]["action"] == "table"
    assert items["/flags"]["action"] == "array" and items["/flags"]["detail"] == "bool (2,)"
    with open_new(tmp_path) as b:
        fileio.import_h5(b, src, "/s")
    with octavo.open(tmp_path / "b.octavo") as b:
        assert b["/s/labels"].read_arrow().column("value").to_pylist() == ["alpha", "b", ""]
        assert b["/s/vlen"].read_arrow().column("value").to_pylist() == ["x", "\u00fcber", "z"]
        np.testing.assert_array_equal(b["/s/flags"][:], [True, False])


def test_unsupported_objects_are_reported_not_dropped(tmp_path):
    src = tmp_path / "odd.h5"
    with tb.open_file(src, "w") as f:
        f.create_array("/", "ok", np.arange(3))
        f.create_array("/", "half", np.arange(4, dtype=np.float16))  # widened to float32 (exact)
        f.create_array("/", "strs2d", np.array([[b"a", b"b"], [b"c", b"d"]]))
        f.create_vlarray("/", "objs", tb.ObjectAtom()).append({"a": 1})
        f.create_external_link("/", "ext", "other.h5:/x")
        f.create_array("/", "scalar", 5)
    items = {i["h5_path"]: i for i in fileio.inspect_h5(src)}
    assert items["/ok"]["supported"] and items["/half"]["detail"] == "float32 (4,)"
    for p, word in [("/strs2d", "string array"), ("/objs", "pickled"), ("/ext", "other files"), ("/scalar", "scalar")]:
        assert not items[p]["supported"] and word in items[p]["reason"], items[p]
    with open_new(tmp_path) as b:
        rep = fileio.import_h5(b, src, "/x")
    skipped = {i["h5_path"] for i in rep["items"] if not i["supported"]}
    assert skipped == {"/strs2d", "/objs", "/ext", "/scalar"}
    with octavo.open(tmp_path / "b.octavo") as b:
        assert "ok" in b["/x"] and "strs2d" not in b["/x"]
        np.testing.assert_array_equal(b["/x/half"][:], np.arange(4, dtype=np.float32))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file_imports_nothing(tmp_path, damage):
    src = make_pytables_file(tmp_path / "c.h5", n=20000)
    data = src.read_bytes()
    if damage == "truncate":
        src.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        src.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    else:
        src.write_bytes(b"")
    with open_new(tmp_path) as b:
        b.create_group("/", "before")
        with pytest.raises(octavo.OctavoError) as ei:
            fileio.import_h5(b, src, "/imp")
        assert "c.h5" in str(ei.value)
    with octavo.open(tmp_path / "b.octavo") as b:
        assert "imp" not in b["/"] and "before" in b["/"]


def test_existing_destination_is_refused_atomically(tmp_path):
    src = make_pytables_file(tmp_path / "e.h5", n=10)
    with open_new(tmp_path) as b:
        b.create_group("/imp/detector/readout")  # collides with a table of the file
        with pytest.raises(octavo.OctavoError):
            fileio.import_h5(b, src, "/imp")
    with octavo.open(tmp_path / "b.octavo") as b:
        assert sorted(b["/imp"].keys()) == ["detector"]


def run(*args, env=None):
    return subprocess.run([OCTAVO, *map(str, args)], capture_output=True, text=True, env=env)


def test_cli_h5ls_and_import(tmp_path):
    src = make_pytables_file(tmp_path / "exp.h5", n=30)
    r = run("h5ls", src)
    assert r.returncode == 0, r.stderr
    assert "/detector/readout" in r.stdout and "-> table" in r.stdout and "-> array /volume" in r.stdout
    r = run("--json", "h5ls", src)
    doc = json.loads(r.stdout)
    kinds = {i["h5_path"]: i["action"] for i in doc["items"]}
    assert kinds["/volume"] == "array" and kinds["/notes"] == "table" and kinds["/latest"] == "link"
    assert doc["unsupported"] == 0
    r = run("import", src, f"{tmp_path}/b.octavo:/data")
    assert r.returncode == 0, r.stderr
    assert "imported" in r.stdout and "commit 1" in r.stdout
    r = run("--json", "tree", tmp_path / "b.octavo")
    assert r.returncode == 0
    with octavo.open(tmp_path / "b.octavo") as b:
        assert len(b["/data/detector/readout"]) == 30
    # again into the same path: refused, bundle unchanged
    r = run("import", src, f"{tmp_path}/b.octavo:/data")
    assert r.returncode != 0 and "already exists" in r.stderr
    # a corrupt file: clear error naming the file, no bundle created
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all" * 10)
    r = run("import", bad, f"{tmp_path}/new.octavo")
    assert r.returncode != 0 and "bad.h5" in r.stderr and "not an HDF5 file" in r.stderr
    assert not (tmp_path / "new.octavo").exists()


def test_blosc_needs_plugin(tmp_path):
    src = tmp_path / "blosc.h5"
    with tb.open_file(src, "w") as f:
        f.create_carray("/", "a", obj=np.arange(1000.0).reshape(10, 100), filters=tb.Filters(5, "blosc"))
    env = dict(os.environ)
    env.pop("HDF5_PLUGIN_PATH", None)
    r = run("--json", "h5ls", src, env=env)
    item = [i for i in json.loads(r.stdout)["items"] if i["h5_path"] == "/a"][0]
    assert not item["supported"] and "blosc" in item["reason"] and "HDF5_PLUGIN_PATH" in item["reason"]
    import hdf5plugin  # installed by scripts/setup.sh
    env["HDF5_PLUGIN_PATH"] = hdf5plugin.PLUGINS_PATH
    r = run("import", src, f"{tmp_path}/b.octavo:/x", env=env)
    assert r.returncode == 0, r.stderr
    with octavo.open(tmp_path / "b.octavo") as b:
        np.testing.assert_array_equal(b["/x/a"][:], np.arange(1000.0).reshape(10, 100))


def test_filenode_versions_and_group_named_file(tmp_path):
    # PyTables' filenode writes an EArray of uint8 with NODE_TYPE=file: version 2 (n,),
    # version 1 (n, 1) (older files). It never writes a group: a group carrying
    # NODE_TYPE=file is just a group (its children are imported).
    from tables.nodes import filenode

    src = tmp_path / "fn.h5"
    v2, v1 = os.urandom(5000), os.urandom(3000) + b"v1"
    with tb.open_file(src, "w") as f:
        n = filenode.new_node(f, where="/", name="v2")
        n.write(v2)
        n.close()
        old = f.create_earray("/", "v1", atom=tb.UInt8Atom(), shape=(0, 1))
        old.append(np.frombuffer(v1, dtype=np.uint8).reshape(-1, 1))
        old.attrs.NODE_TYPE = "file"
        old.attrs.NODE_TYPE_VERSION = 1
        g = f.create_group("/", "grp")
        g._v_attrs.NODE_TYPE = "file"
        f.create_array(g, "inside", np.arange(4))
    with tb.open_file(src) as f:  # PyTables itself reads the version-1 node back
        assert filenode.open_node(f.root.v1).read() == v1
    items = {i["h5_path"]: i for i in fileio.inspect_h5(src)}
    assert items["/v1"]["action"] == "file" and items["/v2"]["action"] == "file"
    assert items["/grp"]["action"] == "group" and items["/grp/inside"]["action"] == "array"
    with open_new(tmp_path) as b:
        fileio.import_h5(b, src, "/")
    with octavo.open(tmp_path / "b.octavo") as b:
        assert b.open_file("/v2").read() == v2
        assert b.open_file("/v1").read() == v1
        np.testing.assert_array_equal(b["/grp/inside"][:], np.arange(4))


def test_non_utf8_fixed_strings_import_as_binary(tmp_path):
    # A fixed-string field holding Latin-1 (or any non-UTF-8) bytes becomes a binary column
    # with the exact bytes, and the report says which field and the first such row; valid
    # text fields stay strings.
    src = tmp_path / "latin.h5"

    class Row(tb.IsDescription):
        name = tb.StringCol(8, pos=0)
        city = tb.StringCol(8, pos=1)
        x = tb.Float64Col(pos=2)

    names = [b"ok", b"caf\xe9", b"na\xefve", b"plain"]
    with tb.open_file(src, "w") as f:
        t = f.create_table("/", "people", Row)
        for i, nm in enumerate(names):
            t.append([(nm, b"Paris", float(i))])
        f.create_array("/", "labels", np.array([b"a", b"\xff\xfe"]))
    with open_new(tmp_path) as b:
        rep = fileio.import_h5(b, src, "/")
    item = [i for i in rep["items"] if i["h5_path"] == "/people"][0]
    assert item["supported"] and item["note"] == (
        "field 'name' is not UTF-8 text (first at row 1): imported as binary (the exact bytes)")
    lab = [i for i in rep["items"] if i["h5_path"] == "/labels"][0]
    assert "'value' is not UTF-8 text (first at row 1)" in lab["note"]
    with octavo.open(tmp_path / "b.octavo") as b:
        t = b["/people"].read_arrow()
        assert t.schema.field("name").type == pa.binary() and t.schema.field("city").type == pa.string()
        assert t.column("name").to_pylist() == names
        assert t.column("city").to_pylist() == ["Paris"] * 4
        assert b["/labels"].read_arrow().column("value").to_pylist() == [b"a", b"\xff\xfe"]
    # the CLI import reports it as well
    r = subprocess.run([shutil.which("octavo"), "import", str(src), f"{tmp_path / 'c.octavo'}:/x"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "note: /people: field 'name' is not UTF-8 text (first at row 1): imported as binary" in r.stdout
