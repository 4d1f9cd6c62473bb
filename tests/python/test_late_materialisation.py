"""Late materialisation in where(): the condition columns are decoded first and the other
columns only at the matching rows, skipping data pages that hold none of them. The values
must be exactly those of filtering the whole table, for every column type, with nulls,
across page and row-group boundaries, with and without the Parquet page index."""
import decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import octavo

N = 12_000


def _frame(seed: int, n: int = N) -> pa.Table:
    rng = np.random.default_rng(seed)

    def mask(p=0.15):
        return rng.random(n) < p

    words = np.array(["red", "green", "blue", "", "ünïcode"])[rng.integers(0, 5, n)]
    unique = np.array([f"row-{seed}-{i}-" + "x" * int(rng.integers(0, 30)) for i in range(n)])
    floats = rng.normal(0, 1, n)
    floats[rng.random(n) < 0.05] = np.nan
    return pa.table({
        "k": pa.array(rng.integers(0, 1000, n), type=pa.int64()),
        "pos": pa.array(np.arange(n), type=pa.int64()),
        "i64": pa.array(rng.integers(-2**62, 2**62, n), mask=mask(), type=pa.int64()),
        "i32": pa.array(rng.integers(-2**31, 2**31 - 1, n).astype(np.int32), mask=mask(), type=pa.int32()),
        "u32": pa.array(rng.integers(0, 2**32 - 1, n, dtype=np.uint64).astype(np.uint32), type=pa.uint32()),
        "u64": pa.array(rng.integers(0, 2**63, n, dtype=np.uint64) * 2 + 1, mask=mask(), type=pa.uint64()),
        "i8": pa.array(rng.integers(-128, 127, n).astype(np.int8), mask=mask(), type=pa.int8()),
        "f32": pa.array(rng.normal(0, 1, n).astype(np.float32), mask=mask(), type=pa.float32()),
        "f64": pa.array(floats, mask=mask(), type=pa.float64()),
        "flag": pa.array(rng.random(n) < 0.5, mask=mask(), type=pa.bool_()),
        "word": pa.array(words, mask=mask(), type=pa.string()),
        "uniq": pa.array(unique, mask=mask(0.05), type=pa.string()),
        "big": pa.array(unique, type=pa.large_string()),
        "raw": pa.array([w.encode() + b"\x00\xff" for w in words], mask=mask(), type=pa.binary()),
        "ts": pa.array(rng.integers(0, 2**60, n), mask=mask(), type=pa.timestamp("ns", tz="UTC")),
        "ts_s": pa.array(rng.integers(0, 2**32, n), mask=mask(), type=pa.timestamp("s")),
        "day": pa.array(rng.integers(-10_000, 30_000, n).astype(np.int32), mask=mask(), type=pa.date32()),
        "t32": pa.array(rng.integers(0, 86_400_000, n).astype(np.int32), mask=mask(), type=pa.time32("ms")),
        "t64": pa.array(rng.integers(0, 86_400_000_000, n), mask=mask(), type=pa.time64("us")),
        "dur": pa.array(rng.integers(-2**40, 2**40, n), mask=mask(), type=pa.duration("ns")),
        "dec": pa.array([decimal.Decimal(int(x)) / 100 for x in rng.integers(-10**8, 10**8, n)],
                        type=pa.decimal128(12, 2)),
        "cat": pa.array(words).dictionary_encode(),
        "catn": pa.array(words, mask=mask(), type=pa.string()).dictionary_encode(),
        "ocat": pa.DictionaryArray.from_arrays(pa.array(words).dictionary_encode().indices,
                                               pa.array(words).dictionary_encode().dictionary, ordered=True),
        "ucat": pa.array(unique).dictionary_encode(),  # too many values: the dictionary overflows into plain pages
        "lst": pa.array([[int(x)] * int(x % 3) for x in rng.integers(0, 100, n)], type=pa.list_(pa.int64())),
    })


@pytest.fixture(scope="module", params=["page_index", "no_page_index"])
def tables(request, tmp_path_factory):
    page_index = request.param == "page_index"
    path = str(tmp_path_factory.mktemp("late") / "late.octavo")
    b = octavo.open(path, "a")
    parts = [_frame(1), _frame(2)]
    # Tiny pages: many pages per column chunk, so page skipping has something to skip.
    b.create_table("/t", data=parts[0], row_group_size=5_000, data_page_size=2_048,
                   write_page_index=page_index)
    b.table("/t").append(parts[1])
    yield b.table("/t"), pa.concat_tables(parts), page_index
    b.close()


CONDITIONS = [
    "k < 1",                      # ~0.1%: most pages of the other columns are skipped
    "k < 10",
    "(k < 200) & (i64 > 0)",      # a second condition column that is also projected
    "k % 7 == 3",
    "k < 600",                    # dense: decoded whole, then taken
    "k >= 0",                     # every row
    "k < 0",                      # no row
    "(word == 'blue') & (k < 50)",
    "f64 IS NULL",
    "ts IS NOT NULL & (k > 990)",
    "i32 > 1000000000",           # a nullable condition column decoded straight into its buffer
    "(i64 > 4000000000000000000) | (f32 < -1.5)",  # one term, two nullable columns
]


def _same(a, b) -> bool:
    """Equal values and nulls; NaN equals NaN (compared bit for bit)."""
    a, b = a.combine_chunks(), b.combine_chunks()
    if pa.types.is_floating(a.type) and a.type == b.type:
        bits = pa.int32() if a.type == pa.float32() else pa.int64()
        return (a.is_null().equals(b.is_null())
                and a.fill_null(0).view(bits).equals(b.fill_null(0).view(bits)))
    return a.equals(b)


def _expected(full: pa.Table, cond: str) -> pa.Table:
    k = full["k"]
    masks = {
        "k < 1": pc.less(k, 1),
        "k < 10": pc.less(k, 10),
        "(k < 200) & (i64 > 0)": pc.and_(pc.less(k, 200), pc.fill_null(pc.greater(full["i64"], 0), False)),
        "k % 7 == 3": pc.equal(pc.subtract(k, pc.multiply(pc.divide(k, 7), 7)), 3),
        "k < 600": pc.less(k, 600),
        "k >= 0": pc.greater_equal(k, 0),
        "k < 0": pc.less(k, 0),
        "(word == 'blue') & (k < 50)": pc.and_(pc.fill_null(pc.equal(full["word"], "blue"), False), pc.less(k, 50)),
        "f64 IS NULL": pc.or_kleene(pc.is_null(full["f64"]), pc.is_nan(full["f64"])),
        "ts IS NOT NULL & (k > 990)": pc.and_(pc.is_valid(full["ts"]), pc.greater(k, 990)),
        "i32 > 1000000000": pc.greater(full["i32"], 1_000_000_000),
        "(i64 > 4000000000000000000) | (f32 < -1.5)": pc.or_kleene(
            pc.fill_null(pc.greater(full["i64"], 4_000_000_000_000_000_000), False),
            pc.fill_null(pc.less(full["f32"], -1.5), False)),
    }
    return full.filter(pc.fill_null(masks[cond], False))


@pytest.mark.parametrize("cond", CONDITIONS)
def test_where_values_equal_filtering_the_whole_table(tables, cond):
    table, full, _ = tables
    want = _expected(full, cond)
    got = table.read_where(cond, return_type="arrow")
    assert got.num_rows == want.num_rows, cond
    assert got.schema.names == want.schema.names
    for name in want.schema.names:
        assert _same(got[name], want[name]), (cond, name)
    rows = table.get_where_list(cond)
    np.testing.assert_array_equal(rows, np.flatnonzero(pc.fill_null(pc.is_in(
        pa.array(np.arange(full.num_rows)), value_set=pa.array(rows)), False).to_numpy(zero_copy_only=False)))


@pytest.mark.parametrize("cond", ["k < 10", "k < 600", "k >= 0"])
def test_dictionary_columns_keep_the_row_groups_dictionaries(tables, cond):
    # Dictionary-typed columns are gathered as indices into the row group's dictionary page,
    # so each result chunk's dictionary is one a plain Parquet reader returns for that column.
    import pyarrow.parquet as pq

    table, full, _ = tables
    parts = pq.ParquetDataset(table._bundle.get_table_path(table.path)).read(columns=["catn", "ocat"])
    got = table.read_where(cond, columns=["catn", "ocat", "ucat"], return_type="arrow")
    want = _expected(full, cond)
    for name in ("catn", "ocat", "ucat"):
        assert got.schema.field(name).type == full.schema.field(name).type, name
        assert got[name].cast(pa.string()).equals(want[name].cast(pa.string())), (cond, name)
    for name in ("catn", "ocat"):
        page_dictionaries = [c.dictionary for c in parts[name].chunks]
        for chunk in got[name].chunks:
            assert any(chunk.dictionary.equals(d) for d in page_dictionaries), (cond, name)
    ranged = table.read(4_990, 5_020, columns=["catn", "ocat", "ucat"], return_type="arrow")
    for name in ("catn", "ocat", "ucat"):
        assert ranged[name].cast(pa.string()).equals(full[name].slice(4_990, 30).cast(pa.string())), name


@pytest.mark.parametrize("cond", ["k < 10", "i32 > 1000000000"])
@pytest.mark.parametrize("columns", [["uniq", "k"], ["dec", "lst", "cat"], ["ts", "ts", "i8", "i32"]])
def test_projection_and_row_range(tables, columns, cond):
    table, full, _ = tables
    start, stop = 3_001, 20_500
    want = _expected(full.slice(start, stop - start), cond).select(columns)
    got = table.read_where(cond, columns=columns, start=start, stop=stop, return_type="arrow")
    assert got.schema.names == columns
    for c in range(len(columns)):
        assert _same(got.column(c), want.column(c)), columns[c]


def test_sparse_query_skips_pages_only_with_a_page_index(tables):
    table, full, page_index = tables
    # 3 rows at positions 0, 4000 and 8000 of each part: in 2 of its 3 row groups.
    it = table.where("pos % 4000 < 3", columns=["pos", "uniq", "f64", "ts"])
    got = it.read_arrow()
    stats = it.stats
    assert got["pos"].to_pylist() == [0, 1, 2, 4000, 4001, 4002, 8000, 8001, 8002] * 2
    assert got["uniq"].equals(full["uniq"].take([0, 1, 2, 4000, 4001, 4002, 8000, 8001, 8002,
                                                  12000, 12001, 12002, 16000, 16001, 16002, 20000, 20001, 20002]))
    assert stats["pages_total"] > 0
    if page_index:
        # One page per matching row group and column is decompressed; the others are skipped.
        assert stats["pages_skipped"] > stats["pages_total"] // 2
    else:
        assert stats["pages_skipped"] == 0
    whole = table.where("pos >= 0", columns=["pos", "uniq", "f64", "ts"])
    whole.read_arrow()
    assert whole.stats["bytes_read"] > stats["bytes_read"]


def test_where_with_index_gathers_candidates(tmp_path):
    full = _frame(5)
    with octavo.open(str(tmp_path / "ix.octavo"), "w") as b:
        b.create_table("/t", data=full, row_group_size=4_000, data_page_size=1_024)
        t = b.table("/t")
        t.create_index("k")
        for cond in ["k == 17", "(k >= 100) & (k < 104)", "k IN (1, 500, 999)"]:
            want = full.filter({
                "k == 17": pc.equal(full["k"], 17),
                "(k >= 100) & (k < 104)": pc.and_(pc.greater_equal(full["k"], 100), pc.less(full["k"], 104)),
                "k IN (1, 500, 999)": pc.is_in(full["k"], value_set=pa.array([1, 500, 999])),
            }[cond])
            it = t.where(cond)
            got = it.read_arrow()
            assert it.stats["parts_indexed"] == 1
            assert all(_same(got[n], want[n]) for n in want.schema.names), cond


def test_damaged_page_is_an_error_not_a_wrong_value(tmp_path):
    """Incompressible columns are stored uncompressed; the page CRC is what notices a flipped
    byte there (before, it read back as a different float)."""
    import os

    import numpy as np

    n = 100_000
    data = pa.table({"k": pa.array(np.arange(n) % 1000), "x": pa.array(np.random.default_rng(2).random(n))})
    path = str(tmp_path / "crc.octavo")
    with octavo.open(path, "w") as b:
        b.create_table("/t", data=data)
        (part,) = b.table("/t").part_paths
    raw = bytearray(open(part, "rb").read())
    mid = len(raw) // 2  # inside the uncompressed float pages
    raw[mid:mid + 8] = bytes(255 - c for c in raw[mid:mid + 8])
    open(part, "wb").write(raw)
    with octavo.open(path) as b:
        t = b.table("/t")
        with pytest.raises(octavo.CorruptionError, match="cannot be decoded"):
            t.read()
        with pytest.raises(octavo.CorruptionError, match=os.path.basename(part)):
            t.read_where("k < 500", columns=["x"])


@pytest.mark.parametrize("start,stop", [(0, None), (1_234, 17_777), (5_001, 9_999), (4_999, 5_003)])
def test_condition_columns_without_nulls_read_straight_from_pages(tmp_path, start, stop):
    # Fixed-width condition columns whose pages hold no nulls are copied straight from the
    # PLAIN pages (no level decoding); `some_null` has nulls in one late page only, so it
    # starts on that path and falls back to the general reader. Row ranges start and end
    # inside pages.
    rng = np.random.default_rng(5)
    n = 20_000
    some_null = rng.random(n)
    some_null_mask = np.zeros(n, dtype=bool)
    some_null_mask[15_000:15_010] = True
    t = pa.table({
        "x": pa.array(rng.random(n)),
        "i": pa.array(rng.integers(-1000, 1000, n, dtype=np.int32)),
        "some_null": pa.array(some_null, mask=some_null_mask),
        "seq": pa.array(np.arange(n, dtype=np.int64)),
    })
    with octavo.open(str(tmp_path / "b.octavo"), "a") as b:
        b.create_table("/t", data=t, row_group_size=6_000, data_page_size=2_048)
        table = b.table("/t")
        stop_ = n if stop is None else stop
        sub = t.slice(start, stop_ - start).to_pandas()
        for cond, mask in [("x < 0.3", sub.x < 0.3), ("(i > 500) & (x > 0.5)", (sub.i > 500) & (sub.x > 0.5)),
                           ("some_null > 0.9", sub.some_null > 0.9), ("seq % 3 == 1", sub.seq % 3 == 1)]:
            got = table.read_where(cond, start=start, stop=stop, return_type="pandas").reset_index(drop=True)
            pd.testing.assert_frame_equal(got, sub[mask.to_numpy()].reset_index(drop=True), check_dtype=False)


def test_pandas_categoricals_gathered_from_their_pages(tmp_path):
    # Declared dictionary<int32, large_string> (pandas), read back by Parquet as string values:
    # still gathered from the pages, with nulls, an ordered one with unused categories, and one
    # whose dictionary overflows into plain pages; frames equal pandas' own filtering.
    rng = np.random.default_rng(7)
    n = 40_000
    df = pd.DataFrame({
        "u": rng.random(n),
        "c": pd.Categorical(rng.choice(["alpha", "beta", "ü"], n), categories=["ü", "beta", "alpha", "unused"],
                            ordered=True),
        "cn": pd.Categorical(np.where(rng.random(n) < 0.1, None, rng.choice(["x", "y"], n))),
        "big": pd.Categorical([f"k{i}" for i in rng.integers(0, 30_000, n)]),
    })
    with octavo.open(str(tmp_path / "cat.octavo"), "w") as b:
        b.create_table("/t", data=df, row_group_size=10_000, data_page_size=2_048)
        t = b.table("/t")
        for cond, mask in [("u < 0.001", df.u < 0.001), ("u < 0.3", df.u < 0.3), ("c == 'beta'", df.c == "beta")]:
            pd.testing.assert_frame_equal(t.read_where(cond), df[mask])
        for a, z in [(0, n), (9_990, 10_020), (123, 4_567)]:
            pd.testing.assert_frame_equal(t.read(a, z), df.iloc[a:z])
        got = t.read_where("u < 0.01", return_type="arrow")
        assert got.schema.field("c").type == pa.dictionary(pa.int32(), pa.large_string(), ordered=True)
        assert all(ch.dictionary.to_pylist() == ["ü", "beta", "alpha", "unused"] for ch in got["c"].chunks)
