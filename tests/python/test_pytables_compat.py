"""octavo.tables runs PyTables code. The first tests run the PyTables tutorial from the user
documents (shared/seeds/002_*, "Managing large hierarchical datasets with PyTables") with only
the import line changed; the rest check each PyTables signature and meaning.

The seed's second block mixes two tutorials: its `where` lines query columns (TDCcount,
pressure) of PyTables' own "tutorial1.h5" (Particle table in /detector), which the seed reads
in its third block. TUTORIAL1 builds that file with PyTables' tutorial code (its first steps),
then the seed's lines run against it. The stray ``abc`` line of the seed (a NameError under
PyTables too) is left out."""
import os
import random
import textwrap

import numpy as np
import pytest

import octavo
import octavo.tables as tt
from octavo.errors import NoSuchNodeError, NotFoundError, OctavoError

SEED_CATALOGUE_WRITE = '''
import octavo.tables as tt
import numpy as np

class Star(tt.IsDescription):
    name     = tt.StringCol(16)   # 16-character string
    ra       = tt.Float64Col()    # Right Ascension as double-precision float
    dec      = tt.Float64Col()    # Declination as double-precision float
    white    = tt.Float32Col()    # white magnitude as single-precision float
    red      = tt.Float32Col()    # red magnitude as single-precision float
    blue     = tt.Float32Col()    # blue magnitude as single-precision float
    parallax = tt.Float32Col()    # parallax as single-precision float
    proper   = tt.Float32Col()    # proper motion as single-precision float

h5file = tt.open_file("catalogue.h5", mode="w", title="Stellar catalogue")
g1 = h5file.create_group("/", 'data', 'Observational data')        # new group under root node; title and description
table = h5file.create_table(g1, 'readout', Star, "Sample stars")   # table stored as a node named "readout"
                                                                   # `Star` class defines its columns
print(h5file)   # show the object tree
h5file          # show more info

import random
from math import asin, degrees
star = table.row   # get a pointer to the Row instance of this table instance
for i in range(10):
    star['name'] = f'Star: {i:6d}'
    star['ra'] = 360 * random.random()
    star['dec'] = degrees(asin(2*random.random()-1))
    star['white'] = random.gauss()
    star['red'] = random.gauss()
    star['blue'] = random.gauss()
    star['parallax'] = 1.e-4 * random.random()
    star['proper'] = random.random()
    star.append()   # insert this new star into the catalogue

table.flush()   # flush the table's I/O buffer: write to disk, free memory resources
h5file.close()
'''

SEED_CATALOGUE_READ = '''
import octavo.tables as tt
import numpy as np
h5file = tt.open_file("catalogue.h5", mode="a")   # append mode

table = h5file.root.data.readout
table.cols               # 8 columns from Star class
table.shape              # 10 rows
table.col('name')        # data in the "name" column
table.col('parallax')    # data in the "parallax" column
table.cols.parallax[:]   # same
for row in table.iterrows():
    print(row[:])   # print each row
'''

# PyTables' own tutorial (pytables.org, "Getting started"): the file the seed's queries use.
TUTORIAL1 = '''
import octavo.tables as tt
import numpy as np

class Particle(tt.IsDescription):
    name      = tt.StringCol(16)   # 16-character String
    idnumber  = tt.Int64Col()      # Signed 64-bit integer
    ADCcount  = tt.UInt16Col()     # Unsigned short integer
    TDCcount  = tt.UInt8Col()      # unsigned byte
    grid_i    = tt.Int32Col()      # 32-bit integer
    grid_j    = tt.Int32Col()      # 32-bit integer
    pressure  = tt.Float32Col()    # float  (single-precision)
    energy    = tt.Float64Col()    # double (double-precision)

h5file = tt.open_file("tutorial1.h5", mode="w", title="Test file")
group = h5file.create_group("/", 'detector', 'Detector information')
table = h5file.create_table(group, 'readout', Particle, "Readout example")
particle = table.row
for i in range(10):
    particle['name']  = f'Particle: {i:6d}'
    particle['TDCcount'] = i % 256
    particle['ADCcount'] = (i * 256) % (1 << 16)
    particle['grid_i'] = i
    particle['grid_j'] = 10 - i
    particle['pressure'] = float(i*i)
    particle['energy'] = float(particle['pressure'] ** 4)
    particle['idnumber'] = i * (2 ** 34)
    particle.append()
table.flush()
table = h5file.root.detector.readout
'''

SEED_QUERIES = '''
pressure = [row['pressure'] for row in table.iterrows() if row['TDCcount'] > 3 and 20 <= row['pressure'] < 50]
pressure   # [25.0, 36.0, 49.0]

condition = 'TDCcount > 3'
for row in table.where(condition):
	print(row[:])

condition = '(TDCcount > 3) & (20 <= pressure) & (pressure < 50)'
for row in table.where(condition):
	print(row[:])

names = [row['name'] for row in table.where("(TDCcount > 3) & (20 <= pressure) & (pressure < 50)")]
names   # [b'Star:      5', b'Star:      6', b'Star:      7']

gcolumns = h5file.create_group(h5file.root, "columns", "Pressure and Name")   # new group
h5file.create_array(gcolumns, 'pressure', np.array(pressure), "Pressure column selection")
h5file.create_array(gcolumns, 'name', names, "Name column selection")

h5file.close()
'''

SEED_TUTORIAL1_READ = '''
import octavo.tables as tt
import numpy as np
h5file = tt.open_file("tutorial1.h5", mode="a")   # append mode

for node in h5file:   # root, 2 groups, 2 arrays, 1 table
    print(node)

for group in h5file.walk_groups():   # two groups
    print(group)

for array in h5file.walk_nodes("/", "Array"):
    print(array)

for leaf in h5file.root.detector._f_walknodes('Leaf'):   # 1 leaf = 'Readout example' table
    print(leaf)

table = h5file.root.detector.readout
table.shape
table.attrs.gath_date = "Wed, 06/12/2003 18:33"
table.attrs.temperature = 18.4
table.attrs.temp_scale = "Celsius"
print(table.attrs)
del table.attrs.gath_date   # delete an attribute

table = h5file.root.detector.readout
particle = table.row
for i in range(10, 15):   # add data to the existing table
    particle['name']  = f'Star: {i:6d}'
    particle['TDCcount'] = i % 256
    particle['ADCcount'] = (i * 256) % (1 << 16)
    particle['grid_i'] = i
    particle['grid_j'] = 10 - i
    particle['pressure'] = float(i*i)
    particle['energy'] = float(particle['pressure'] ** 4)
    particle['idnumber'] = i * (2 ** 34)
    particle.append()

table.shape
table.flush()

h5file.root.columns.pressure[:]
pres = h5file.root.columns.pressure
pres
pres[:]
pres[1:3] = [2.1, 3.5]   # overwrite the last two values
pres.flush()
'''

SEED_COMPRESSED = '''
import octavo.tables as tt
import numpy as np
stability = np.random.default_rng(0).random((30, 30, 30), dtype=np.float32)   # (the seed reads a netCDF file)

compress = tt.Filters(complib='zlib', complevel=5)
h5file = tt.open_file("compressed.h5", mode="w", title="Mandelbulb at 300^3 resolution", filters=compress)
g1 = h5file.create_group("/", 'g1', 'Fractal data')   # new group under root node; title and description
h5file.create_carray('/g1', 'stability', obj=stability)   # use chunked arrays, write into g1
h5file.close()

h5file = tt.open_file("compressed.h5", mode="a", filters=compress)   # append mode
a = np.random.randn(100,100)   # 100^2 array from a normal (Gaussian with x0=0, sigma=1) distribution
h5file.create_carray('/g1', 'a', obj=a)   # use chunked arrays, write into g1
h5file.close()

import octavo.tables as tt
f1 = tt.open_file("compressed.h5", mode="r")   # read mode
for node in f1:   # root, 1 group g1, 2 arrays inside g1, both compressed
    print(node)

for array in f1.walk_nodes("/", "Array"):
    print('---')
    print(array)
    print(array.shape)
    print(array[:])

f1.root.g1.a[:]                  # entire array

f1.root.g1.stability[:]          # entire array
f1.root.g1.stability[:3,:3,:3]   # 3x3x3 starting corner block
f1.root.g1.stability.shape
f1.root.g1.stability.filters
f1.root.g1.stability.title
f1.root.g1.stability.dtype
f1.root.g1.stability.size_in_memory   # uncompressed in memory
f1.close()

import octavo.tables as tt
f1 = tt.open_file("compressed.h5", mode="a")   # append mode
f1.root.g1.a.remove()
f1.close()

import octavo.tables as tt
f1 = tt.open_file("compressed.h5", mode="a")   # append mode
f1.create_soft_link("/", "stab", "/g1/stability")   # link in root called "stab" pointing to "/g1/stability"
f1.root.stab.shape
f1.root.stab[:]
f1.close()
'''

SEED_FILENODE = '''
import octavo.tables as tt
from octavo.tables.nodes import filenode

f1 = tt.open_file('storage.h5', 'w')                         # create a new HDF5 file
fnode = filenode.new_node(f1, where='/', name='text_file')   # create a new node file inside this file
print(f1.get_node_attr('/text_file', 'NODE_TYPE'))           # it looks like a file inside our HDF5 file

fnode.write("This is a sample line.\\n".encode('utf8'))
fnode.write("Write a second line.\\n".encode('ascii'))
fnode.write(b"Write a third line.\\n")

fnode.seek(0)   # rewind to the beginning of the file
for line in fnode:
    print(line)

fnode.close()
print(fnode.closed)
f1.close()

import octavo.tables as tt
from octavo.tables.nodes import filenode
f1 = tt.open_file('storage.h5', 'r')
node = f1.root.text_file
fnode = filenode.open_node(node, 'r')
for line in fnode:
    print(line)

fnode.close()
f1.close()

import octavo.tables as tt
from octavo.tables.nodes import filenode
f1 = tt.open_file('storage.h5', 'a')                  # append mode
fnode = filenode.open_node(f1.root.text_file, 'a+')   # read and append mode
fnode.write(b"Write a fourth line.\\n")
fnode.seek(0)   # rewind to the beginning of the file
for line in fnode:
    print(line)

fnode.close()
f1.close()
'''


def _run(code: str, ns: dict | None = None) -> dict:
    ns = {} if ns is None else ns
    exec(compile(textwrap.dedent(code), "<seed>", "exec"), ns)  # noqa: S102 (the tutorial's own code)
    return ns


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_seed_catalogue(in_tmp, capsys):
    random.seed(1)
    _run(SEED_CATALOGUE_WRITE)
    out = capsys.readouterr().out
    assert "/data/readout (Table(0,)) 'Sample stars'" in out
    ns = _run(SEED_CATALOGUE_READ)
    table = ns["table"]
    assert table.shape == (10,)
    assert table.col("name")[3] == b"Star:      3"
    assert table.col("name").dtype == np.dtype("S16")
    np.testing.assert_array_equal(table.cols.parallax[:], table.col("parallax"))
    assert table.col("parallax").dtype == np.float32
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 10
    ns["h5file"].close()


def test_seed_queries_and_tutorial1(in_tmp, capsys):
    ns = _run(TUTORIAL1)
    ns = _run(SEED_QUERIES, ns)
    assert ns["pressure"] == [25.0, 36.0, 49.0]
    assert ns["names"] == [b"Particle:      5", b"Particle:      6", b"Particle:      7"]
    out = capsys.readouterr().out
    assert out.count("Particle") == 6 + 3  # TDCcount > 3: rows 4..9; then rows 5..7
    ns = _run(SEED_TUTORIAL1_READ)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    # for node in h5file: root, 2 groups, 2 arrays, 1 table
    assert lines[:6] == ["/ (RootGroup) 'Test file'",
                         "/columns (Group) 'Pressure and Name'",
                         "/columns/name (Array(3,)) 'Name column selection'",
                         "/columns/pressure (Array(3,)) 'Pressure column selection'",
                         "/detector (Group) 'Detector information'",
                         "/detector/readout (Table(10,)) 'Readout example'"]
    h5file = ns["h5file"]
    assert [g._v_pathname for g in h5file.walk_groups()] == ["/", "/columns", "/detector"]
    assert [a._v_pathname for a in h5file.walk_nodes("/", "Array")] == ["/columns/name", "/columns/pressure"]
    assert [x._v_pathname for x in h5file.root.detector._f_walknodes("Leaf")] == ["/detector/readout"]
    table = ns["table"]
    assert table.nrows == 15
    assert "gath_date" not in table.attrs and table.attrs.temperature == 18.4
    np.testing.assert_allclose(ns["pres"][:], [25.0, 2.1, 3.5], rtol=1e-6)
    assert table.read(10, 15, field="name")[0] == b"Star:     10"
    h5file.close()


def test_seed_compressed_arrays(in_tmp, capsys):
    ns = _run(SEED_COMPRESSED)
    f = tt.open_file("compressed.h5")
    assert [n._v_pathname for n in f] == ["/", "/g1", "/g1/stability", "/stab"]
    st = f.root.g1.stability
    np.testing.assert_array_equal(st[:], ns["stability"])
    assert st.filters.complevel == 5 and st.filters.complib == "zlib"
    assert st.size_in_memory == 30 ** 3 * 4
    assert isinstance(st, tt.CArray) and isinstance(st, tt.Array)
    f.close()


def test_seed_filenode(in_tmp, capsys):
    _run(SEED_FILENODE)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "file"
    assert out[1:4] == ["b'This is a sample line.\\n'", "b'Write a second line.\\n'", "b'Write a third line.\\n'"]
    assert out[4] == "True"
    assert out[-1] == "b'Write a fourth line.\\n'" and len(out) == 5 + 3 + 4


# --- signatures and meanings -----------------------------------------------------------------

@pytest.fixture
def h5(tmp_path):
    f = tt.open_file(str(tmp_path / "t.h5"), "w", title="T")
    yield f
    f.close()


def test_description_kinds_and_order(h5):
    class D(tt.IsDescription):
        b = tt.Int32Col(pos=2)
        a = tt.Float64Col(pos=1)
        z = tt.StringCol(4, dflt=b"zz")
        v = tt.Int16Col(shape=(2, 3))
        c = tt.BoolCol()
    t = h5.create_table("/", "t", D)
    assert t.colnames == ["a", "b", "c", "v", "z"]  # pos first, then by name (PyTables)
    assert t.coldtypes["v"] == np.dtype(("int16", (2, 3)))
    r = t.row
    r["v"] = np.arange(6).reshape(2, 3)
    r.append()
    t.append([(1.5, 2, True, np.ones((2, 3)), b"ab")])
    t.flush()
    got = t.read()
    assert got.dtype == t.dtype
    assert got["z"].tolist() == [b"zz", b"ab"]  # the description's dflt fills unset fields
    np.testing.assert_array_equal(got["v"][0], np.arange(6).reshape(2, 3))
    # a dict of Cols and a numpy dtype are descriptions too
    t2 = h5.create_table("/", "t2", {"x": tt.Int8Col(), "y": tt.UInt64Col()})
    assert t2.colnames == ["x", "y"]
    dt = np.dtype([("p", "f4"), ("q", "S3")])
    t3 = h5.create_table("/", "t3", dt)
    t3.append(np.array([(1, b"abc"), (2, b"de")], dtype=dt))
    assert t3.read().tolist() == [(1.0, b"abc"), (2.0, b"de")]
    t4 = h5.create_table("/", "t4", obj=np.array([(1, b"x")], dtype=dt))
    assert t4.nrows == 1
    assert t4.description._v_names == ["p", "q"]


def test_table_reads_and_where(h5):
    t = h5.create_table("/", "t", {"i": tt.Int64Col(pos=0), "x": tt.Float64Col(pos=1)})
    t.append([(i, i * 0.5) for i in range(1000)])
    assert t.read(10, 20, 3)["i"].tolist() == [10, 13, 16, 19]
    assert t.read(field="x")[4] == 2.0
    assert [r.nrow for r in t.iterrows(5, 30, 7)] == [5, 12, 19, 26]
    assert sum(1 for _ in t) == 1000
    rows = list(t.where("(i > 990) & (x < 498)"))
    assert [(r.nrow, r["i"]) for r in rows] == [(991, 991), (992, 992), (993, 993), (994, 994), (995, 995)]
    limit = 995  # noqa: F841 (read by where() from this frame, as PyTables does)
    assert [r["i"] for r in t.where("i > limit")] == [996, 997, 998, 999]  # caller's variables
    assert [r["i"] for r in t.where("i > lim", {"lim": 997})] == [998, 999]
    assert t.read_where("i < 3")["x"].tolist() == [0.0, 0.5, 1.0]
    assert t.read_where("i < 3", field="i").tolist() == [0, 1, 2]
    assert t.get_where_list("i >= 997").tolist() == [997, 998, 999]
    assert t.get_where_list("i >= 990", None, False, 0, 1000, 4).tolist() == [992, 996]
    assert t.read_coordinates([5, 1])["i"].tolist() == [5, 1]
    assert t[3]["i"] == 3 and t[-1]["i"] == 999 and t[2:4]["i"].tolist() == [2, 3]
    assert t.cols.i[7] == 7 and len(t.cols.i) == 1000
    with pytest.raises(IndexError):
        t[1000]
    with pytest.raises(KeyError):
        t.read(field="nope")


def test_row_iteration_reads_in_chunks(h5, monkeypatch):
    t = h5.create_table("/", "t", {"i": tt.Int32Col()})
    t.append(np.arange(200_000, dtype="i4").view([("i", "i4")]))
    sizes = []
    real = octavo.Table.iter_batches

    def spy(self, chunk_size=10_000, *a, **k):
        sizes.append(chunk_size)
        return real(self, chunk_size, *a, **k)
    monkeypatch.setattr(octavo.Table, "iter_batches", spy)
    total = sum(int(r["i"]) for r in t.iterrows())
    assert total == sum(range(200_000))
    assert sizes == [tt._ROWS_PER_READ]  # one engine stream, read a chunk at a time


def test_hierarchy_signatures(h5):
    g = h5.create_group("/", "a", "A group")
    assert g._v_title == "A group" and g._v_name == "a" and g._v_pathname == "/a"
    with pytest.raises(NoSuchNodeError):  # createparents defaults to False, as in PyTables
        h5.create_group("/x/y", "z")
    h5.create_group("/x/y", "z", createparents=True)
    arr = h5.create_array("/a", "arr", np.arange(5), "five")
    assert arr.title == "five" and isinstance(arr, tt.Array) and not isinstance(arr, tt.CArray)
    ea = h5.create_earray("/a", "ea", tt.Float32Atom(), (0, 3), "ext")
    ea.append(np.ones((2, 3)))
    ea.append(np.zeros((1, 3)))
    assert ea.shape == (3, 3) and isinstance(ea, tt.EArray)
    ca = h5.create_carray("/a", "ca", tt.Int16Atom(), (4, 4), "c", tt.Filters(complevel=3, complib="blosc:lz4"))
    assert ca[:].sum() == 0 and ca.filters.complevel == 3
    vl = h5.create_vlarray("/a", "vl", tt.Int32Atom(), "ragged")
    vl.append([1, 2, 3])
    vl.append([])
    assert [x.tolist() for x in vl] == [[1, 2, 3], []] and vl.nrows == 2
    vs = h5.create_vlarray("/a", "vs", tt.VLStringAtom())
    vs.append(b"hello")
    assert vs[0] == b"hello"
    h5.create_soft_link("/", "lnk", "/a/arr")
    assert h5.root.lnk[:].tolist() == [0, 1, 2, 3, 4]
    assert h5.get_node("/a", "arr") == arr
    assert h5.get_node(g, "arr").shape == (5,)
    with pytest.raises(TypeError):
        h5.get_node("/a/arr", classname="Table")
    kinds = {n._v_pathname: type(n).__name__ for n in h5.walk_nodes("/a")}
    assert kinds == {"/a": "Group", "/a/arr": "Array", "/a/ca": "CArray", "/a/ea": "EArray",
                     "/a/vl": "VLArray", "/a/vs": "VLArray"}
    assert [n._v_name for n in h5.walk_nodes("/", "VLArray")] == ["vl", "vs"]
    h5.set_node_attr("/a/arr", "units", "m")
    assert h5.get_node_attr("/a", "units", "arr") == "m"
    assert "units" in arr.attrs._v_attrnames
    h5.del_node_attr("/a/arr", "units")
    with pytest.raises(AttributeError):
        h5.get_node_attr("/a/arr", "units")
    h5.rename_node("/a/arr", "arr2")
    h5.move_node("/a/arr2", "/x", "moved")
    assert h5.root.x.moved[:].tolist() == [0, 1, 2, 3, 4]
    h5.copy_node("/x/moved", "/", "copied")
    with pytest.raises(tt.NodeError):
        h5.copy_node("/x/moved", "/", "copied")
    h5.copy_node("/x/moved", "/", "copied", overwrite=True)
    h5.remove_node("/", "copied")
    assert "/copied" not in h5
    with pytest.raises(octavo.OctavoError):
        h5.remove_node("/x")  # has children: recursive=True needed
    h5.remove_node("/x", recursive=True)
    node = h5.root.a.ca
    node.rename("cb")
    assert node._v_pathname == "/a/cb" and "/a/cb" in h5
    node.move("/", "top")
    assert h5.root.top.shape == (4, 4)
    h5.root.top.remove()
    assert "/top" not in h5


def test_missing_nodes_raise_pytables_error(h5):
    for call in (lambda: h5.get_node("/nope"), lambda: h5.root.nope, lambda: h5.remove_node("/nope")):
        with pytest.raises(NoSuchNodeError) as e:
            call()
        assert isinstance(e.value, LookupError) and isinstance(e.value, OctavoError)
        assert isinstance(e.value, NotFoundError)
    assert not hasattr(h5.root, "nope")  # also an AttributeError, as in PyTables


def test_modes_and_context_manager(tmp_path):
    p = str(tmp_path / "m.h5")
    with pytest.raises(octavo.OctavoIOError):
        tt.open_file(p, "r")
    with tt.open_file(p, "w", title="x") as f:
        f.create_array("/", "a", [1, 2])
    assert f.isopen == 0
    with tt.open_file(p, "r") as f:
        assert f.title == "x" and f.root.a[:].tolist() == [1, 2]
        with pytest.raises(octavo.ReadOnlyError):
            f.create_group("/", "g")
    with tt.open_file(p, "r+") as f:
        f.create_group("/", "g")
    with tt.open_file(p, "w") as f:  # 'w' starts over
        assert len(f.root) == 0


def test_real_hdf5_file_is_refused_with_the_fix(tmp_path):
    p = tmp_path / "real.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(octavo.InvalidArgumentError, match="import_h5"):
        tt.open_file(str(p), "a")


def test_rows_pending_at_close_are_written(tmp_path):
    p = str(tmp_path / "c.h5")
    f = tt.open_file(p, "w")
    t = f.create_table("/", "t", {"i": tt.Int32Col()})
    for i in range(3):
        t.row["i"] = i
        t.row.append()
    f.close()  # PyTables flushes tables on close
    with tt.open_file(p) as f:
        assert f.root.t.col("i").tolist() == [0, 1, 2]


def test_filters_and_atoms():
    f = tt.Filters(complevel=5, complib="blosc:zstd", shuffle=True)
    assert f.complevel == 5 and f.shuffle
    with pytest.raises(octavo.InvalidArgumentError, match="lzo"):
        tt.Filters(complevel=1, complib="lzo")
    assert tt.StringAtom(8).dtype == np.dtype("S8") and tt.Float32Atom().dtype == np.float32
    assert tt.Int32Atom().itemsize == 4
    e = tt.EnumCol(["red", "green"], "green", base="uint8")
    assert e.dflt == 1 and e.enum(0) == "red"


def test_bad_descriptions_are_octavo_errors(h5):
    with pytest.raises(octavo.SchemaError):
        h5.create_table("/", "t", 42)
    with pytest.raises(octavo.SchemaError):
        h5.create_table("/", "t", np.dtype("f8"))
    t = h5.create_table("/", "t", {"i": tt.Int8Col()})
    with pytest.raises(octavo.SchemaError):
        t.append([("not an int",)])
    with pytest.raises(octavo.SchemaError):
        t.row["i"] = "x"
    with pytest.raises(KeyError):
        t.row["nope"] = 1
    assert os.path.isdir(h5.filename)


def test_modify_and_remove_rows_copy_on_write(tmp_path):
    p = str(tmp_path / "e.h5")
    f = tt.open_file(p, "w")
    t = f.create_table("/", "t", {"i": tt.Int32Col(pos=0), "s": tt.StringCol(4, pos=1)})
    t.append([(i, b"r%d" % i) for i in range(100)])
    c0 = f.commit["id"]
    assert t.modify_column(10, 16, 2, [-1, -2, -3], "i") == 3
    assert t.read(9, 16, field="i").tolist() == [9, -1, 11, -2, 13, -3, 15]
    assert f.commit["id"] == c0 + 1  # one commit
    assert t.modify_rows(20, rows=[(0, b"x"), (0, b"y")]) == 2  # without stop: as many rows as given
    assert t.read(20, 22).tolist() == [(0, b"x"), (0, b"y")]
    t[50] = (5, b"five")
    t.cols.i[60:63] = [7, 8, 9]
    assert t[50].tolist() == (5, b"five") and t.cols.i[60:63].tolist() == [7, 8, 9]
    assert t.remove_rows(0) == 1  # PyTables: start alone is one row
    assert t.nrows == 99 and t[0]["i"] == 1
    assert t.remove_rows(0, 10, 3) == 4
    assert t.nrows == 95
    with pytest.raises(octavo.InvalidArgumentError):
        t.modify_column(0, 5, 1, [1, 2], "i")  # 2 values for 5 rows
    with pytest.raises(IndexError):
        t.modify_column(94, None, None, [1, 2], "i")  # past the end
    with pytest.raises(octavo.SchemaError):
        t.modify_column(0, 1, 1, ["x"], "i")
    f.close()
    old = octavo.open(p, commit=c0)  # readers of older commits see the old rows
    assert old["/t"].read(columns=["i"], return_type="arrow").column(0).to_pylist() == list(range(100))
    old.close()


SEED_IMAGES = '''
import octavo.tables as tt
from octavo.tables.nodes import filenode
from PIL import Image
from glob import glob

f1 = tt.open_file('storage.h5', 'a')
tuscany = f1.create_group("/", 'tuscany')

for input in glob("small*.png"):
    print('copying', input)
    image = Image.open(input)
    fnode = filenode.new_node(f1, where='/tuscany', name=input.replace('.png', ''))
    image.save(fp=fnode, format='png')
    fnode.close()

f1.close()

f1 = tt.open_file('storage.h5', 'r')
image = Image.open(fp=f1.root.tuscany.small08)
for i in f1.root.tuscany:   # cycle through all its children
    print(i)
f1.root.tuscany['small00']   # is another way to acces it
image = Image.open(fp=f1.root.tuscany['small08'])
f1.close()

f1 = tt.open_file('storage.h5', 'a')
f1.root.tuscany.small19.remove()               # remove the node
f1.root.tuscany.small18.rename("last_image")   # rename the node
for i in f1.root.tuscany:   # cycle through all its children
    print(i)
'''


def test_seed_images_in_file_nodes(in_tmp, capsys):
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    images = {}
    for n in range(20):
        images[n] = (rng.random((12, 12, 3)) * 255).astype("uint8")
        pil.fromarray(images[n]).save(f"small{n:02d}.png")
    _run(SEED_FILENODE)
    ns = _run(SEED_IMAGES)
    np.testing.assert_array_equal(np.asarray(ns["image"]), images[8])
    with tt.open_file("storage.h5") as f:
        names = sorted(n._v_name for n in f.root.tuscany)
    assert len(names) == 19 and "last_image" in names and "small19" not in names and "small18" not in names
