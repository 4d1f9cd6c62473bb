"""Appends that accept what pandas and polars actually produce (issue 17): row labels that
are not data, lossless widening, and clear errors for what would lose values."""
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import octavo


def frame(first, n):
    return pd.DataFrame({"gpu": [f"GPU-{i % 7}" for i in range(first, first + n)],
                         "slot": np.arange(first, first + n, dtype=np.int64),
                         "load": np.linspace(0, 1, n),
                         "user": [None if i % 4 == 0 else f"u{i % 3}" for i in range(first, first + n)]})


def test_filtered_reset_and_range_index_frames_append_to_one_another(bundle):
    df = frame(0, 100)
    filtered = df[df["slot"] % 3 == 0]               # non-contiguous index
    bundle.add_table("f", filtered)
    assert "__index_level_0__" not in bundle.table("f").column_names
    bundle.append_table("f", df)                      # RangeIndex
    bundle.append_table("f", filtered.reset_index(drop=True))
    bundle.append_table("f", df[df["load"] > 0.5])   # filtered again
    got = bundle.get_table("f", return_type="pandas")
    want = pd.concat([filtered, df, filtered, df[df["load"] > 0.5]], ignore_index=True)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want)
    # and the other way round: a table made from a RangeIndex frame takes filtered frames
    bundle.add_table("r", df)
    bundle.append_table("r", filtered)
    assert bundle.table("r").num_rows == len(df) + len(filtered)


def test_named_index_is_kept_and_matched_by_name(bundle):
    df = frame(0, 10).set_index(pd.Index(np.arange(10), name="row"))
    bundle.add_table("n", df)
    bundle.append_table("n", frame(10, 5).set_index(pd.Index(np.arange(10, 15), name="row")))
    got = bundle.get_table("n")
    assert got.index.name == "row" and got.index.tolist() == list(range(15))


def test_chunks_of_a_real_ingest_loop(bundle):
    """The natural loop over read_sql chunks: all-NULL strings, NULLs in an int column
    (float64 in pandas), int32 and categorical chunks."""
    base = frame(0, 20)
    bundle.add_table("g", base)
    all_null = frame(20, 5).assign(user=[None] * 5)          # object column of None -> null type
    int_with_null = frame(25, 5).astype({"slot": "float64"})
    int_with_null.loc[int_with_null.index[1], "slot"] = np.nan  # an int column holding a NULL
    int32 = frame(30, 5).astype({"slot": "int32"})
    cat = frame(35, 5).astype({"gpu": "category"})
    f32 = frame(40, 5).astype({"load": "float32"})
    for chunk in (all_null, int_with_null, int32, cat, f32):
        bundle.append_table("g", chunk)
    t = bundle.get_table("g", return_type="arrow")
    assert t.num_rows == 45
    assert t.schema.field("slot").type == pa.int64()
    assert t.schema.field("user").type == base.pipe(pa.Table.from_pandas).schema.field("user").type
    slot = t.column("slot").to_pylist()
    assert slot[26] is None and slot[25] == 25 and slot[30:35] == list(range(30, 35))
    assert t.column("user").to_pylist()[20:25] == [None] * 5
    assert t.column("gpu").to_pylist()[35:40] == [f"GPU-{i % 7}" for i in range(35, 40)]


def test_polars_and_pandas_append_to_one_another(bundle):
    pdf = frame(0, 10)
    bundle.add_table("p", pdf)
    pldf = pl.from_pandas(frame(10, 10)).with_columns(pl.col("gpu").cast(pl.Categorical),
                                                       pl.col("slot").cast(pl.Int32))
    bundle.append_table("p", pldf)             # string_view / categorical(u32) / int32
    bundle.add_table("q", pl.from_pandas(frame(0, 10)))
    bundle.append_table("q", frame(10, 10))    # pandas into a polars-made table
    a = bundle.get_table("p", return_type="arrow")
    b = bundle.get_table("q", return_type="arrow")
    assert a.num_rows == b.num_rows == 20
    assert a.column("gpu").to_pylist() == b.column("gpu").to_pylist()
    assert a.column("slot").to_pylist() == b.column("slot").to_pylist() == list(range(20))


def test_timestamp_units_and_unsigned(bundle):
    ts = pd.date_range("2025-11-01", periods=4, freq="15min")
    bundle.add_table("t", pa.table({"ts": pa.array(ts, pa.timestamp("us")), "n": pa.array([1, 2, 3, 4], pa.int64())}))
    bundle.append_table("t", pa.table({"ts": pa.array(ts, pa.timestamp("s")), "n": pa.array([5, 6, 7, 8], pa.uint32())}))
    bundle.append_table("t", pa.table({"ts": pa.array(ts, pa.timestamp("ns")), "n": pa.array([9, 9, 9, 9], pa.int8())}))
    assert bundle.table("t").num_rows == 12
    with pytest.raises(octavo.SchemaError, match=r"column 'ts' .*timestamp\[ns\].*does not fit"):
        bundle.append_table("t", pa.table({"ts": pa.array([1500], pa.timestamp("ns")), "n": pa.array([1], pa.int64())}))
    with pytest.raises(octavo.SchemaError, match=r"column 'n' .*uint64.*does not fit"):
        bundle.append_table("t", pa.table({"ts": pa.array(ts[:1], pa.timestamp("us")),
                                           "n": pa.array([2 ** 63 + 1], pa.uint64())}))
    assert bundle.table("t").num_rows == 12


def test_lossy_appends_name_column_types_and_fix(bundle):
    bundle.add_table("l", frame(0, 5))
    c0 = bundle.commit["id"]
    bad = frame(5, 5).astype({"slot": "float64"})
    bad.loc[bad.index[0], "slot"] = 5.5
    with pytest.raises(octavo.SchemaError, match=r"column 'slot' has type double but the table expects int64.*Int64"):
        bundle.append_table("l", bad)
    with pytest.raises(octavo.SchemaError, match=r"column 'load' has type (large_)?string but the table expects double; cast"):
        bundle.append_table("l", frame(5, 5).astype({"load": "str"}))
    with pytest.raises(octavo.SchemaError, match=r"column 'slot' has type int64 but the table expects double"):
        bundle.add_table("d", pa.table({"slot": [0.5]}))
        bundle.append_table("d", pa.table({"slot": [2 ** 60]}))  # int64 -> float64 is not exact
    assert bundle.commit["id"] == c0 + 1  # only /d's creation
    assert bundle.table("l").num_rows == 5


def test_first_chunk_all_null_then_typed(bundle):
    first = frame(0, 5).assign(user=[None] * 5)   # the table's "user" column: type null
    bundle.append_table("z", first)
    assert bundle.table("z").schema.field("user").type == pa.null()
    bundle.append_table("z", frame(5, 5))           # typed now: the table takes string
    t = bundle.get_table("z", return_type="arrow")
    assert t.schema.field("user").type in (pa.string(), pa.large_string())
    assert t.column("user").to_pylist() == [None] * 5 + [None if i % 4 == 0 else f"u{i % 3}" for i in range(5, 10)]
    assert bundle.sql("SELECT count(user) AS n FROM z", return_type="pandas")["n"][0] == 4


def test_schema_mode_add_columns(bundle):
    bundle.add_table("a", frame(0, 4))
    more = frame(4, 3).assign(device=["A100", "H100", None])
    with pytest.raises(octavo.SchemaError, match="'device'"):
        bundle.append_table("a", more)
    bundle.append_table("a", more, schema_mode="add_columns")
    t = bundle.get_table("a", return_type="arrow")
    assert t.column_names[-1] == "device"
    assert t.column("device").to_pylist() == [None] * 4 + ["A100", "H100", None]
    with pytest.raises(ValueError, match="schema_mode"):
        bundle.append_table("a", more, schema_mode="merge")


def test_iter_table_labels_with_and_without_where(bundle):
    df = pd.DataFrame({"x": np.arange(10)})
    bundle.add_table("t", df)
    assert [list(c.index) for c in bundle.iter_table("t", chunk_size=4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [list(c.index) for c in bundle.iter_table("t", chunk_size=2, where="x % 3 == 0")] == [[0, 3], [6, 9]]
    # a table whose RangeIndex starts at 3: labels are the frame's, not row numbers
    bundle.add_table("u", pd.DataFrame({"x": np.arange(3, 10)}, index=pd.RangeIndex(3, 10)))
    want = [6, 7, 8, 9]
    assert list(bundle.get_table("u", where="x > 5").index) == want
    assert [list(c.index) for c in bundle.iter_table("u", chunk_size=3, where="x > 5")] == [want[:3], want[3:]]
    assert list(bundle.get_table("u", where="x > 5", limit=2).index) == want[:2]
    assert list(bundle.get_table("u").index) == list(range(3, 10))
