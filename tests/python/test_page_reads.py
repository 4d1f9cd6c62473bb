"""Page-level reads: read(start, stop) of part of a row group and iter_batches read only the
pages holding the rows (issue 15). Correctness across types, parts, row groups and pages;
damaged pages and page indexes; memory that follows chunk_size, not the row group size."""
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import octavo
from test_tables import all_types_table

# Small row groups and pages: every range below crosses page, row group and part boundaries.
SMALL = dict(row_group_size=1000, part_max_rows=2500, data_page_size=1024)


def wide_table(n, seed=0):
    """all_types_table plus the flat columns the page readers decode directly, with nulls."""
    rng = np.random.default_rng(seed)
    t = all_types_table(n, seed)
    extra = {
        "seq": pa.array(np.arange(n, dtype=np.int64) * 3 + 7),                   # delta encoded
        "lowcard": pa.array(rng.integers(0, 5, n)),                              # dictionary
        "noise": pa.array(rng.standard_normal(n)),                               # plain, uncompressed
        "ni": pa.array([None if i % 11 == 0 else i for i in range(n)], pa.int64()),
        "nf": pa.array([None if i % 5 == 0 else i / 3 for i in range(n)], pa.float64()),
        "uniq": pa.array([f"u{i:07d}-{i * 7919 % 1000}" for i in range(n)]),   # plain strings
        "nts": pa.array([None if i % 13 == 0 else i for i in range(n)], pa.timestamp("ms")),
    }
    for k, v in extra.items():
        t = t.append_column(k, v)
    return t


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """A table of 3 appends (several parts, 1000-row row groups, ~1 KiB pages) and its data."""
    path = str(tmp_path_factory.mktemp("pages") / "b.octavo")
    chunks = [wide_table(6000, 1), wide_table(1234, 2), wide_table(3001, 3)]
    with octavo.open(path, "w") as b:
        b.create_table("t", data=chunks[0], options=SMALL)
        b.append_table("t", chunks[1])
        b.append_table("t", chunks[2])
    b = octavo.open(path, "r")
    t = b.table("t")
    expected = pa.concat_tables(chunks)
    yield t, expected, path
    b.close()


def _same(got: pa.Table, exp: pa.Table):
    assert got.num_rows == exp.num_rows
    for name in exp.column_names:
        g = got.column(name).combine_chunks() if got.num_rows else got.column(name)
        e = exp.column(name).cast(got.schema.field(name).type)
        assert g.to_pylist() == e.to_pylist(), name


def test_layout_has_many_pages(multi):
    t, expected, path = multi
    files = octavo.open(path, "r").get_table_path("t")
    assert len(files) >= 4
    md = pq.ParquetFile(files[0]).metadata
    assert md.num_row_groups >= 2 and md.row_group(0).num_rows == 1000
    assert md.row_group(0).column(0).has_offset_index


RANGES = [(0, 1), (0, 10), (499, 501), (990, 1010), (999, 1001), (1000, 2000), (2499, 2501), (2500, 2600),
          (5999, 6001), (6000, 7234), (7233, 7235), (123, 4567), (7000, 10235), (10234, 10235),
          (3000, 3000), (10235, 10235), (5, 3), (-10, None), (-5000, -4000), (0, None)]


@pytest.mark.parametrize("start,stop", RANGES)
def test_read_ranges_all_types(multi, start, stop):
    t, expected, _ = multi
    got = t.read(start, stop, return_type="arrow")
    s, e, _ = slice(start, stop).indices(expected.num_rows)
    _same(got, expected.slice(s, max(0, e - s)))


def test_read_ranges_random_projections(multi):
    t, expected, _ = multi
    rng = np.random.default_rng(7)
    names = expected.column_names
    for _ in range(40):
        a = int(rng.integers(0, expected.num_rows))
        z = int(min(expected.num_rows, a + rng.integers(0, 3000)))
        cols = list(rng.choice(names, size=int(rng.integers(1, 6)), replace=False))
        got = t.read(a, z, columns=cols, return_type="arrow")
        assert got.column_names == cols
        _same(got, expected.slice(a, z - a).select(cols))


@pytest.mark.parametrize("chunk", [1, 7, 999, 1000, 4096, 70_000])
def test_iter_batches_all_types(multi, chunk):
    t, expected, _ = multi
    batches = list(t.iter_batches(chunk, return_type="arrow"))
    assert all(b.num_rows == chunk for b in batches[:-1])
    assert 0 < batches[-1].num_rows <= chunk
    _same(pa.concat_tables(batches), expected)


@pytest.mark.parametrize("start,stop", [(1, 2), (995, 3005), (2400, 8000), (10000, 10235), (4000, 4000)])
def test_iter_batches_subrange(multi, start, stop):
    t, expected, _ = multi
    batches = list(t.iter_batches(333, columns=["seq", "s", "lst", "cat", "nf", "b"], return_type="arrow",
                                  start=start, stop=stop))
    got = pa.concat_tables(batches) if batches else None
    exp = expected.slice(start, stop - start).select(["seq", "s", "lst", "cat", "nf", "b"])
    if exp.num_rows == 0:
        assert got is None or got.num_rows == 0
    else:
        _same(got, exp)


# --- damage ------------------------------------------------------------------------------------

def _one_part_bundle(path, n=20_000):
    rng = np.random.default_rng(5)
    data = pa.table({"x": rng.standard_normal(n), "k": pa.array(rng.integers(0, 4, n)),
                     "s": pa.array([f"v{i}" for i in range(n)])})
    with octavo.open(path, "w") as b:
        b.create_table("t", data=data, options=dict(row_group_size=10_000, data_page_size=4096))
        return data, b.get_table_path("t")[0]


def test_damaged_page_in_range_is_corruption(tmp_path):
    data, part = _one_part_bundle(str(tmp_path / "b"))
    md = pq.ParquetFile(part).metadata
    col = md.row_group(1).column(0)                      # "x", stored uncompressed: no other guard
    pages = pq.ParquetFile(part).metadata  # noqa: F841
    target = col.data_page_offset + col.total_compressed_size // 2
    with open(part, "r+b") as f:
        f.seek(target)
        byte = f.read(1)
        f.seek(target)
        f.write(bytes([byte[0] ^ 0x10]))
    with octavo.open(str(tmp_path / "b"), "r") as b:
        t = b.table("t")
        hit = False
        for a in range(10_000, 20_000, 250):             # every range of row group 1: some hold the page
            try:
                got = t.read(a, a + 250, return_type="arrow")
            except octavo.CorruptionError as e:
                assert part in str(e) and "'x'" in str(e)
                hit = True
                continue
            assert got.column("x").to_pylist() == data.column("x").slice(a, 250).to_pylist()
        assert hit
        assert t.read(0, 500, return_type="arrow").column("x").to_pylist() == data.column("x")[:500].to_pylist()
        with pytest.raises(octavo.CorruptionError):
            for _ in t.iter_batches(1000):
                pass


def _page_index_region(part):
    """[start, end) of the bytes between the last column chunk and the footer: the page index."""
    md = pq.ParquetFile(part).metadata
    end_of_data = 0
    for g in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(g).column(c)
            start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
            end_of_data = max(end_of_data, start + col.total_compressed_size)
    size = os.path.getsize(part)
    with open(part, "rb") as f:
        f.seek(size - 8)
        footer_len = int.from_bytes(f.read(4), "little")
    return end_of_data, size - 8 - footer_len


def test_damaged_page_index_never_gives_wrong_rows(tmp_path):
    """Every byte of the offset/column index flipped in turn: each range read is exact or a
    CorruptionError (the offset index is outside the footer's checksum; ReadPageRange checks
    it against the footer and the page headers)."""
    data, part = _one_part_bundle(str(tmp_path / "b"), n=4000)
    lo, hi = _page_index_region(part)
    assert 0 < hi - lo < 20_000
    with open(part, "rb") as f:
        original = f.read()
    ranges = [(0, 3), (1500, 1600), (1999, 2001), (3990, 4000)]
    expect = {r: data.slice(r[0], r[1] - r[0]).to_pydict() for r in ranges}
    corrupt = 0
    b = octavo.open(str(tmp_path / "b"), "r")
    t = b.table("t")
    # The same ranges are read again and again: off, the block cache would serve them from
    # memory (as it was checked when first read) and no read would meet the damage.
    cache = octavo.table.block_cache_size()
    octavo.table.set_block_cache_size(0)
    try:
        for off in range(lo, hi):
            damaged = bytearray(original)
            damaged[off] ^= 1 << (off % 8)
            with open(part, "r+b") as f:
                f.write(damaged)
            for r in ranges:
                try:
                    got = t.read(*r, return_type="arrow").to_pydict()
                except octavo.CorruptionError:
                    corrupt += 1
                    continue
                assert got == expect[r], f"flip at byte {off} gave different rows {r}"
    finally:
        octavo.table.set_block_cache_size(cache)
        with open(part, "wb") as f:
            f.write(original)
        b.close()
    assert corrupt > 0


# --- memory ------------------------------------------------------------------------------------

MEMORY_CHILD = r"""
import json, sys
import pyarrow as pa
import octavo
pools = [pa.default_memory_pool(), pa.system_memory_pool()]
try:
    pools.append(pa.jemalloc_memory_pool())
except Exception:
    pass
before = [p.max_memory() for p in pools]
rows = 0
with octavo.open(sys.argv[1], "r") as b:
    for batch in b.table("t").iter_batches(int(sys.argv[2]), return_type="arrow"):
        rows += batch.num_rows
print(json.dumps({"rows": rows, "peak": sum(p.max_memory() for p in pools), "before": sum(before)}))
"""


def test_iteration_memory_follows_chunk_size_not_row_group(tmp_path):
    """One 2M-row row group (32 MB decoded) iterated in 10,000-row chunks: the peak of Arrow's
    memory pools stays a small fraction of the row group (it held all of it before)."""
    n = 2_000_000
    rng = np.random.default_rng(3)
    data = pa.table({"a": pa.array(np.arange(n, dtype=np.int64)), "x": pa.array(rng.standard_normal(n))})
    path = str(tmp_path / "big.octavo")
    with octavo.open(path, "w") as b:
        b.create_table("t", data=data, options=dict(row_group_size=n))
    assert pq.ParquetFile(octavo.open(path, "r").get_table_path("t")[0]).metadata.num_row_groups == 1
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, path, "10000"], capture_output=True, text=True,
                         check=True)
    r = json.loads(out.stdout)
    assert r["rows"] == n
    assert r["peak"] - r["before"] < data.nbytes / 8, r


# --- write statistics (the float fast path) --------------------------------------------------

def test_float_part_statistics(tmp_path):
    """Part statistics of float columns: NaN never a bound but flagged, infinities no bound."""
    import glob
    n = 3001                                            # not a multiple of the 4-value loop
    x = np.linspace(-5, 5, n)
    x[7] = np.nan
    last_nan = np.r_[np.linspace(1, 2, n - 1), np.nan]
    path = str(tmp_path / "s.octavo")
    with octavo.open(path, "w") as b:
        b.create_table("t", data=pa.table({
            "x": x, "f": pa.array(x.astype(np.float32)), "allnan": np.full(n, np.nan),
            "inf": np.r_[x[:10], np.inf, x[11:]], "tail": last_nan, "neg": -np.arange(n, dtype=np.float64),
            "nul": pa.array([None if i % 3 else float(i) for i in range(n)])}))
    manifest = sorted(glob.glob(path + "/manifests/0*.json"))[-1]
    with open(manifest) as f:
        text = f.read()
    stats = json.loads(text)["nodes"]["/t"]["table"]["parts"][0]["stats"] if '"nodes"' in text else None
    assert stats is not None
    assert stats["x"] == {"null_count": 0, "min": -5.0, "max": 5.0, "has_nan": True}
    assert stats["f"] == {"null_count": 0, "min": -5.0, "max": 5.0, "has_nan": True}
    assert stats["allnan"] == {"null_count": 0, "has_nan": True}
    assert stats["inf"] == {"null_count": 0, "has_nan": True}
    assert stats["tail"] == {"null_count": 0, "min": 1.0, "max": 2.0, "has_nan": True}
    assert stats["neg"] == {"null_count": 0, "min": -(n - 1.0), "max": 0.0}
    assert stats["nul"]["min"] == 0.0 and stats["nul"]["max"] == 3000.0


def test_parts_without_page_index(tmp_path):
    """Parts written without the page index: ranges and iteration read whole chunks, once per
    row group, with the same results."""
    data = wide_table(5000, 9)
    path = str(tmp_path / "nopi.octavo")
    with octavo.open(path, "w") as b:
        b.create_table("t", data=data, options=dict(SMALL, write_page_index=False))
    files = octavo.open(path, "r").get_table_path("t")
    assert not pq.ParquetFile(files[0]).metadata.row_group(0).column(0).has_offset_index
    with octavo.open(path, "r") as b:
        t = b.table("t")
        for a, z in [(0, 5), (999, 1001), (2400, 2600), (4990, 5000), (17, 4321)]:
            _same(t.read(a, z, return_type="arrow"), data.slice(a, z - a))
        _same(pa.concat_tables(list(t.iter_batches(300, return_type="arrow"))), data)


def _varint(buf, at):
    """(value, end) of the ULEB128 varint at buf[at]."""
    v = shift = 0
    while True:
        b = buf[at]
        v |= (b & 0x7F) << shift
        at += 1
        shift += 7
        if not b & 0x80:
            return v, at


def test_zstd_page_of_wrong_size_is_corruption(tmp_path):
    # octavo decompresses zstd pages itself (one context per thread, not Arrow's codec): a page
    # header whose uncompressed size disagrees with its frame (the header is outside the page
    # CRC) must still be an error naming the file, on the page-range, whole-chunk (where) and
    # scan paths, and the pages around it must still read right.
    data, part = _one_part_bundle(str(tmp_path / "b"))
    col = pq.ParquetFile(part).metadata.row_group(1).column(2)
    assert col.path_in_schema == "s" and col.compression == "ZSTD"
    with open(part, "r+b") as f:
        f.seek(col.data_page_offset)
        head = bytearray(f.read(32))
        # thrift compact PageHeader: field 1 (type, i32) then field 2 (uncompressed_page_size)
        assert head[0] == 0x15
        _, at = _varint(head, 1)
        assert head[at] == 0x15
        zz, end = _varint(head, at + 1)
        n = end - at - 1
        assert zz % 2 == 0 and zz >= 2
        new = zz - 2                       # zigzag: one byte less; written in the same n bytes
        enc = bytearray((new >> 7 * i) & 0x7F | (0x80 if i < n - 1 else 0) for i in range(n))
        f.seek(col.data_page_offset + at + 1)
        f.write(enc)
    with octavo.open(str(tmp_path / "b"), "r") as b:
        t = b.table("t")
        with pytest.raises(octavo.CorruptionError) as e:
            t.read(10_000, 10_100, columns=["s"], return_type="arrow")
        assert part in str(e.value)
        with pytest.raises(octavo.CorruptionError) as e:
            t.read_where("(x > -100) & (s != 'v0')", return_type="arrow")
        assert part in str(e.value)
        with pytest.raises(octavo.CorruptionError):
            for _ in t.iter_batches(5000):
                pass
        assert t.read(0, 9_000, columns=["s"], return_type="arrow").column("s").to_pylist() == \
            data.column("s")[:9_000].to_pylist()


def test_repeated_ranges_from_the_block_cache_all_types(tmp_path):
    """The first read of a range reads its rows, the second keeps its 8,192-row blocks, later
    ones come from memory: all three give the same rows, of every type, across blocks."""
    expected = wide_table(40_000, 5)
    with octavo.open(str(tmp_path / "b"), "w") as b:
        b.create_table("t", data=expected, options=dict(row_group_size=20_000, data_page_size=4096))
    t = octavo.open(str(tmp_path / "b"), "r").table("t")
    for start, stop in [(100, 1100), (8000, 8400), (16000, 24000), (19990, 20010), (39_999, 40_000)]:
        for _ in range(3):
            _same(t.read(start, stop, return_type="arrow"), expected.slice(start, stop - start))
            cols = ["uniq", "seq", expected.column_names[0]]
            _same(t.read(start, stop, columns=cols, return_type="arrow"), expected.slice(start, stop - start).select(cols))


def test_block_cache_size_is_settable_and_zero_turns_it_off(tmp_path):
    from octavo.table import block_cache_size, set_block_cache_size
    old = block_cache_size()
    assert old == 32 << 20
    expected = wide_table(20_000, 6)
    with octavo.open(str(tmp_path / "b"), "w") as b:
        b.create_table("t", data=expected, options=dict(row_group_size=20_000))
    t = octavo.open(str(tmp_path / "b"), "r").table("t")
    try:
        set_block_cache_size(0)
        assert block_cache_size() == 0
        for _ in range(3):
            _same(t.read(5000, 6000, return_type="arrow"), expected.slice(5000, 1000))
    finally:
        set_block_cache_size(old)
    assert block_cache_size() == old
