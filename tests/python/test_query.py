"""Conditional reads (where / read_where / get_where_list / read_coordinates) and SQL."""
import random

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import octavo


def _random_frame(rng: np.random.Generator, n: int) -> pa.Table:
    ints = rng.integers(-50, 50, n)
    int_mask = rng.random(n) < 0.1
    floats = rng.normal(0, 20, n)
    floats[rng.random(n) < 0.1] = np.nan
    float_mask = rng.random(n) < 0.05  # nulls as well as NaN
    words = np.array(["apple", "pear", "fig", "kiwi", ""])[rng.integers(0, 5, n)]
    str_mask = rng.random(n) < 0.1
    return pa.table({
        "i": pa.array(ints, mask=int_mask, type=pa.int64()),
        "f": pa.array(floats, mask=float_mask, type=pa.float64()),
        "g": pa.array(rng.normal(0, 5, n).astype(np.float32)),
        "s": pa.array(words, mask=str_mask, type=pa.string()),
        "b": pa.array(rng.random(n) < 0.5),
    })


class _Gen:
    """Random conditions: (octavo text, function computing the pandas boolean mask)."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def num(self, depth=0):
        r = self.r
        k = r.random()
        if depth > 1 or k < 0.5:
            col = r.choice(["i", "f", "g"])
            return col, lambda df, c=col: df[c]
        if k < 0.7:
            v = r.choice([r.randint(-30, 30), round(r.uniform(-30, 30), 2)])
            return repr(v), lambda df, v=v: v
        op = r.choice(["+", "-", "*", "/"])
        (ta, fa), (tb, fb) = self.num(depth + 1), self.num(depth + 1)
        ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
               "/": lambda a, b: a / b}
        return f"({ta} {op} {tb})", lambda df, f=ops[op], fa=fa, fb=fb: f(fa(df), fb(df))

    def atom(self):
        r = self.r
        k = r.random()
        cmp = r.choice(["<", "<=", ">", ">=", "==", "!="])
        pyop = {"<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__", "==": "__eq__", "!=": "__ne__"}[cmp]
        if k < 0.15:
            w = r.choice(["apple", "pear", "zzz", ""])
            text = f"s {cmp} {w!r}"

            def m(df, w=w, pyop=pyop):
                s = df["s"]
                res = getattr(s, pyop)(w)
                return res.fillna(cmp == "!=").astype(bool)
            return text, m
        if k < 0.2:
            return "b", lambda df: df["b"]
        if k < 0.27:
            col = r.choice(["i", "f", "s"])
            return f"{col} IS NULL", lambda df, c=col: df[c].isna()
        if k < 0.35:
            vals = [r.randint(-5, 5) for _ in range(3)]
            return f"i IN ({', '.join(map(str, vals))})", lambda df, v=vals: df["i"].isin(v)
        if k < 0.42:
            lo, hi = sorted([r.randint(-30, 30), r.randint(-30, 30)])
            return f"f BETWEEN {lo} AND {hi}", lambda df, lo=lo, hi=hi: (df["f"] >= lo) & (df["f"] <= hi)
        (ta, fa), (tb, fb) = self.num(), self.num()
        return f"({ta} {cmp} {tb})", lambda df, fa=fa, fb=fb, pyop=pyop: pd.Series(
            getattr(pd.Series(fa(df), index=df.index) if np.isscalar(fa(df)) else fa(df), pyop)(fb(df)),
            index=df.index).fillna(False).astype(bool)

    def cond(self, depth=0):
        r = self.r
        k = r.random()
        if depth > 2 or k < 0.4:
            return self.atom()
        if k < 0.55:
            t, f = self.cond(depth + 1)
            neg = r.choice(["~", "NOT "])
            return f"{neg}({t})", lambda df, f=f: ~f(df)
        (ta, fa), (tb, fb) = self.cond(depth + 1), self.cond(depth + 1)
        if r.random() < 0.5:
            op = r.choice(["&", "AND"])
            return f"({ta}) {op} ({tb})", lambda df, fa=fa, fb=fb: fa(df) & fb(df)
        op = r.choice(["|", "OR"])
        return f"({ta}) {op} ({tb})", lambda df, fa=fa, fb=fb: fa(df) | fb(df)


@pytest.fixture(scope="module")
def random_table(tmp_path_factory):
    rng = np.random.default_rng(7)
    path = str(tmp_path_factory.mktemp("q") / "rand.octavo")
    b = octavo.open(path, "a")
    data = [_random_frame(rng, 700) for _ in range(3)]
    b.create_table("/t", data=data[0], row_group_size=97)
    for d in data[1:]:
        b.table("/t").append(d)
    full = pa.concat_tables(data)
    df = full.to_pandas()
    df.attrs["arrow"] = full
    yield b.table("/t"), df
    b.close()


def test_random_conditions_match_pandas(random_table):
    table, df = random_table
    gen = _Gen(1234)
    checked = 0
    for _ in range(300):
        text, mask_fn = gen.cond()
        with np.errstate(all="ignore"):
            try:
                mask = mask_fn(df)
            except TypeError:
                continue  # pandas cannot evaluate it (e.g. string ordering with None)
        mask = pd.Series(mask, index=df.index).fillna(False).astype(bool)
        want = np.flatnonzero(mask.to_numpy())
        got = table.get_where_list(text)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want, err_msg=text)
        if checked % 5 == 0:  # the values too: late-materialised columns at the selected rows
            rows = table.read_where(text, return_type="arrow")
            expect = df.attrs["arrow"].take(want)
            for name in expect.schema.names:
                a, e = rows[name].combine_chunks(), expect[name].combine_chunks()
                assert a.is_null().equals(e.is_null()), (text, name)
                assert pc.all(pc.or_kleene(pc.equal(a, e), pc.is_null(a))).as_py() in (True, None) or \
                    pa.types.is_floating(a.type) and np.array_equal(
                        a.to_numpy(zero_copy_only=False), e.to_numpy(zero_copy_only=False), equal_nan=True), (text, name)
        checked += 1
    assert checked > 250


def test_pandas_eval_equivalence(random_table):
    table, df = random_table
    for cond in ["(i > 3) & (f < 10)", "~(f > 0)", "(f != 5) | (i == 2)", "0 < f < 10", "abs(f) > 3",
                 "(i % 3 == 1) & (g > 0)", "f ** 2 > 100", "-i > 5"]:
        pd_cond = cond.replace("abs(f)", "f.abs()")
        with np.errstate(all="ignore"):
            mask = df.eval(pd_cond)
        want = np.flatnonzero(mask.fillna(False).to_numpy(dtype=bool))
        np.testing.assert_array_equal(table.get_where_list(cond), want, err_msg=cond)


def test_functions_and_condvars(random_table):
    table, df = random_table
    with np.errstate(all="ignore"):
        want = np.flatnonzero(((np.sqrt(df.f) > 2) & (np.log(df.f.abs() + 1) < 3)).to_numpy())
    np.testing.assert_array_equal(table.get_where_list("(sqrt(f) > 2) & (log(abs(f) + 1) < 3)"), want)
    want = np.flatnonzero((np.where(df.f > 0, df.f, -df.f) > 10).astype(bool))
    np.testing.assert_array_equal(table.get_where_list("where(f > 0, f, -f) > 10"), want)
    want = np.flatnonzero(((df.i > 5) & (df.s == "pear")).to_numpy(dtype=bool))
    got = table.get_where_list("(i > lo) & (s == word)", condvars={"lo": np.int64(5), "word": "pear"})
    np.testing.assert_array_equal(got, want)
    got = table.get_where_list("s == b'pear'")
    np.testing.assert_array_equal(got, np.flatnonzero((df.s == "pear").to_numpy(dtype=bool)))


def test_read_where_projection_range_and_return_types(bundle):
    df = pd.DataFrame({"id": np.arange(1000), "x": np.arange(1000) * 0.5,
                       "name": [f"n{i % 4}" for i in range(1000)]})
    bundle.add_table("readout", df, row_group_size=100)
    t = bundle.table("readout")
    got = t.read_where("(x > 100) & (name == 'n1')", columns=["id", "name"])
    want = df[(df.x > 100) & (df.name == "n1")][["id", "name"]]
    pd.testing.assert_frame_equal(got, want)
    got = t.read_where("id >= 0", start=10, stop=20, return_type="arrow")
    assert got.column("id").to_pylist() == list(range(10, 20))
    ends = [None, 0, 3, 999, 1000, 5000, 2**70, -1, -3, -1000, -5000, -(2**70)]
    for start in ends:  # start and stop as in a Python slice, in every where entry point
        for stop in ends:
            want = [i for i in range(1000)[start:stop] if i % 3 == 0]
            assert t.get_where_list("id % 3 == 0", start=start, stop=stop).tolist() == want, (start, stop)
            got = t.read_where("id % 3 == 0", start=start, stop=stop)  # pandas: labels from the where list
            assert got["id"].tolist() == want and list(got.index) == want, (start, stop)
            got = [c for c in t.where("id % 3 == 0", start=start, stop=stop, chunk_size=100)]
            assert sum((list(c.index) for c in got), []) == want, (start, stop)
    assert isinstance(t.read_where("id < 5", return_type="polars"), pl.DataFrame)
    chunks = list(t.where("id < 250", columns=["id"], chunk_size=100, return_type="arrow"))
    assert [c.num_rows for c in chunks] == [100, 100, 50]
    assert t.last_query_stats["rows_selected"] == 250
    coords = t.read_coordinates([5, 3, 999], columns=["id"])
    assert coords["id"].tolist() == [5, 3, 999]
    assert list(coords.index) == [5, 3, 999]
    # DataFolio style
    got = bundle.get_table("readout", where="id < 3", columns=["id"])
    assert got["id"].tolist() == [0, 1, 2]
    # with where, limit counts matching rows (issue 17); offset is the first row considered
    got = bundle.get_table("readout", where="id % 2 == 0", offset=10, limit=6, return_type="arrow")
    assert got.column("id").to_pylist() == [10, 12, 14, 16, 18, 20]
    got = bundle.get_table("readout", where="id % 2 == 1", limit=3)
    assert got["id"].tolist() == [1, 3, 5]
    got = bundle.get_table("readout", where="id > 990", limit=100, columns=["id"], return_type="polars")
    assert got["id"].to_list() == list(range(991, 1000))
    chunks = list(bundle.iter_table("readout", chunk_size=10, columns=["id"], where="id < 25"))
    assert [len(c) for c in chunks] == [10, 10, 5]


def test_pushdown_skips_parts_and_row_groups(bundle):
    for k in range(4):  # four parts with disjoint id ranges
        part = pa.table({"id": np.arange(k * 10_000, (k + 1) * 10_000), "v": np.random.default_rng(k).random(10_000)})
        if k == 0:
            bundle.create_table("/data/readout", data=part, row_group_size=1000)
        else:
            bundle.table("/data/readout").append(part)
    t = bundle.table("/data/readout")
    assert t.get_where_list("id == 23456").tolist() == [23456]
    s = t.last_query_stats
    assert s["parts_total"] == 4 and s["parts_skipped"] == 3
    assert s["row_groups_total"] == 40 and s["row_groups_skipped"] == 39
    assert s["rows_scanned"] == 1000 and s["rows_selected"] == 1
    assert s["columns_read"] == ["id"]
    full = t.get_where_list("v >= 0")
    assert len(full) == 40_000
    assert 0 < s["bytes_read"] < t.last_query_stats["bytes_read"]
    # A projected column is decoded only for the row groups that survive.
    res = t.where("(id >= 15000) & (id < 15010)", columns=["v"])
    assert sum(len(c) for c in res) == 10
    assert res.stats["parts_skipped"] == 3 and res.stats["row_groups_skipped"] == 39
    assert res.stats["columns_read"] == ["id", "v"]


def test_error_messages_point_at_the_condition(bundle):
    bundle.add_table("r", pd.DataFrame({"pressure": [1.0, 2.0], "name": ["a", "b"]}))
    t = bundle.table("r")
    with pytest.raises(octavo.InvalidArgumentError) as e:
        t.get_where_list("(pressure > 3) & (pressure <)")
    msg = str(e.value)
    assert "position 28" in msg and "^" in msg
    with pytest.raises(octavo.SchemaError) as e:
        t.get_where_list("name > 3")
    assert "column 'name'" in str(e.value) and "^^^^^^^^" in str(e.value)
    with pytest.raises(octavo.NotFoundError) as e:
        t.get_where_list("presure > 3")
    assert "'presure'" in str(e.value) and "pressure, name" in str(e.value)
    with pytest.raises(octavo.SchemaError):
        t.get_where_list("pressure", condvars=None)
    with pytest.raises(octavo.SchemaError):
        t.get_where_list("pressure > x", condvars={"x": object()})


@pytest.fixture
def sql_bundle(bundle):
    bundle.add_table("subjects", pd.DataFrame({"id": [1, 2, 3], "species": ["mouse", "rat", "mouse"]}))
    bundle.create_table("/data/readout", data=pd.DataFrame({"id": [1, 1, 2, 3, 3, 3], "x": [1.0, 2, 3, 4, 5, 6]}))
    bundle.table("/data/readout").append(pd.DataFrame({"id": [2], "x": [10.0]}))
    bundle.create_table("/data/empty", schema=pa.schema([("id", pa.int64()), ("y", pa.float64())]))
    return bundle


def test_sql_join_and_quoted_paths(sql_bundle):
    b = sql_bundle
    df = b.sql('SELECT s.species, sum(r.x) AS total FROM "/data/readout" r JOIN subjects s USING (id) '
               "GROUP BY s.species ORDER BY s.species")
    assert isinstance(df, pd.DataFrame)
    assert df.to_dict("list") == {"species": ["mouse", "rat"], "total": [18.0, 13.0]}
    assert b.sql('SELECT count(*) AS n FROM "/subjects"')["n"].tolist() == [3]
    assert b.sql('SELECT count(*) AS n FROM "/data/empty"')["n"].tolist() == [0]
    assert b.sql('SELECT * FROM "/data/empty"', return_type="arrow").schema.names == ["id", "y"]


def test_sql_return_types_and_stream(sql_bundle):
    b = sql_bundle
    q = "SELECT id FROM subjects ORDER BY id"
    assert b.sql(q, return_type="arrow").column("id").to_pylist() == [1, 2, 3]
    assert b.sql(q, return_type="polars")["id"].to_list() == [1, 2, 3]
    reader = b.sql(q, stream=True)
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.read_all().column("id").to_pylist() == [1, 2, 3]
    with pytest.raises(ValueError):
        b.sql(q, return_type="numpy")


def test_query_table(sql_bundle):
    b = sql_bundle
    got = b.query_table("/data/readout", "SELECT id, count(*) AS n FROM table GROUP BY id ORDER BY id")
    assert got.to_dict("list") == {"id": [1, 2, 3], "n": [2, 2, 3]}
    got = b.query_table("subjects", "SELECT table.species FROM table WHERE table.id = 2", return_type="arrow")
    assert got.column("species").to_pylist() == ["rat"]
    with pytest.raises(octavo.NotFoundError):
        b.query_table("nope", "SELECT 1 FROM table")


def test_sql_errors_and_snapshot(sql_bundle, bundle_path):
    b = sql_bundle
    with pytest.raises(octavo.QueryError) as e:
        b.sql("SELECT nope FROM subjects")
    assert "nope" in str(e.value)
    with pytest.raises(octavo.QueryError):
        b.sql("SELEC 1")
    # a reader sees its commit: later appends are invisible to its SQL
    r = octavo.open(bundle_path, "r")
    b.append_table("subjects", pd.DataFrame({"id": [4], "species": ["fish"]}))
    assert r.sql("SELECT count(*) AS n FROM subjects")["n"].tolist() == [3]
    assert b.sql("SELECT count(*) AS n FROM subjects")["n"].tolist() == [4]
    r.close()


def test_huge_and_deeply_nested_conditions(bundle):
    """Long IN lists and | chains give pandas' answers; deep nesting is an error, never a crash."""
    rng = np.random.default_rng(7)
    ids = rng.permutation(200_000)[:100_000]
    x = rng.normal(size=len(ids))
    x[::17] = np.nan
    bundle.create_table("/t", data=pa.table({"id": ids, "x": x}), row_group_size=10_000)
    t = bundle.table("/t")
    df = pd.DataFrame({"id": ids, "x": x})
    wanted = rng.choice(200_000, 30_000, replace=False)
    text = "id IN (" + ",".join(map(str, wanted)) + ")"
    np.testing.assert_array_equal(t.get_where_list(text), np.flatnonzero(df.id.isin(wanted)))
    np.testing.assert_array_equal(t.get_where_list("id NOT " + text[3:]), np.flatnonzero(~df.id.isin(wanted)))
    ors = " | ".join(f"(id == {v})" for v in wanted[:3000])
    np.testing.assert_array_equal(t.get_where_list(ors), np.flatnonzero(df.id.isin(wanted[:3000])))
    for deep in ["~" * 3000 + "(x > 0)", "(" * 10000 + "x > 0" + ")" * 10000, "-" * 3000 + "x > 0"]:
        with pytest.raises(octavo.InvalidArgumentError, match="nests deeper than 256"):
            t.get_where_list(deep)
    np.testing.assert_array_equal(t.get_where_list("~" * 100 + "(x > 0)"), np.flatnonzero(df.x > 0))
