"""Sorted tables (Table.sort_by / repack) and persistent secondary indexes (create_index)."""
import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import octavo
from test_query import _Gen, _random_frame


def _mask(df, fn):
    with np.errstate(all="ignore"):
        m = fn(df)
    return np.flatnonzero(pd.Series(m, index=df.index).fillna(False).astype(bool).to_numpy())


def _check_random_conditions(table, df, seed, n=200, **kw):
    gen = _Gen(seed)
    checked = 0
    for _ in range(n):
        text, fn = gen.cond()
        try:
            want = _mask(df, fn)
        except TypeError:
            continue
        got = table.get_where_list(text, **kw)
        np.testing.assert_array_equal(got, want, err_msg=text)
        checked += 1
    assert checked > n * 0.8


def _rows_sorted(t: pa.Table) -> list:
    """Rows as tuples in a canonical order (NaN/None made comparable) for multiset comparison."""
    def key(v):
        if v is None:
            return (2, 0)
        if isinstance(v, float) and np.isnan(v):
            return (1, 0)
        return (0, v)
    rows = [tuple(key(v) for v in r) for r in zip(*[c.to_pylist() for c in t.columns], strict=True)]
    return sorted(rows)


def _frame64(rng, n):
    d = _random_frame(rng, n)
    return d.set_column(2, "g", d.column("g").cast(pa.float64()))


@pytest.fixture
def rand_bundle(tmp_path):
    rng = np.random.default_rng(11)
    # g as float64: float32 arithmetic differs from pandas' in the last bits (not what is tested here)
    data = [_frame64(rng, 700) for _ in range(3)]
    b = octavo.open(str(tmp_path / "r.octavo"), "a")
    b.create_table("/t", data=data[0], row_group_size=97)
    for d in data[1:]:
        b.table("/t").append(d)
    yield b, pa.concat_tables(data)
    b.close()


# --- sorting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("run_rows", [None, 250])  # one in-memory run / external merge of 9 runs
@pytest.mark.parametrize("keys", [["f"], ["s", "i"], ["b", "g"]])
def test_sort_by_orders_rows_like_arrow(rand_bundle, keys, run_rows):
    b, full = rand_bundle
    t = b.table("/t")
    t.sort_by(keys, run_rows=run_rows)
    got = t.read(return_type="arrow")
    assert got.num_rows == full.num_rows
    # Same rows ...
    assert _rows_sorted(got) == _rows_sorted(full)
    # ... in Arrow's order (nulls last, NaN after numbers) on the keys.
    want = full.take(pc.sort_indices(full, [(k, "ascending") for k in keys], null_placement="at_end"))
    for k in keys:
        a, w = got.column(k).to_pylist(), want.column(k).to_pylist()
        same = [(x == y) or (x is None and y is None) or (isinstance(x, float) and isinstance(y, float)
                                                          and np.isnan(x) and np.isnan(y)) for x, y in zip(a, w, strict=True)]
        assert all(same), k
    info = t.info()
    assert info["sorted_by"] == keys and info["sorted_rows"] == full.num_rows
    assert t.sorted_by == keys


def test_sorted_table_queries_prune_and_stay_correct(rand_bundle):
    b, _ = rand_bundle
    t = b.table("/t")
    t.sort_by("i", row_group_size=50)
    df = t.read(return_type="arrow").to_pandas()
    assert t.info()["options"]["row_group_size"] == 50
    got = t.get_where_list("i == 7")
    np.testing.assert_array_equal(got, np.flatnonzero((df.i == 7).to_numpy()))
    s = t.last_query_stats
    assert s["parts_sorted"] == s["parts_total"] >= 1
    # Sorted: the rows with i == 7 sit in one or two row groups, everything else is skipped.
    assert s["row_groups_total"] - s["row_groups_skipped"] <= 3
    t.get_where_list("(i >= -10) & (i <= 10)")
    assert t.last_query_stats["row_groups_matched"] > 0  # whole row groups need no filter
    _check_random_conditions(t, df, seed=5)


def test_sort_then_append_keeps_the_sorted_prefix(rand_bundle):
    b, full = rand_bundle
    t = b.table("/t")
    t.sort_by("i")
    t.append(_frame64(np.random.default_rng(3), 100))
    info = t.info()
    assert info["sorted_by"] == ["i"] and info["sorted_rows"] == full.num_rows
    df = t.read(return_type="arrow").to_pandas()
    _check_random_conditions(t, df, seed=6, n=80)
    t.get_where_list("i == 0")
    assert t.last_query_stats["parts_sorted"] == t.last_query_stats["parts_total"] - 1


def test_bundle_sort_by_and_errors(rand_bundle):
    b, _ = rand_bundle
    b.sort_by("/t", ["s"])
    assert b.table("/t").sorted_by == ["s"]
    with pytest.raises(octavo.NotFoundError, match="no column 'nope'"):
        b.sort_by("/t", ["nope"])
    b.create_table("/l", data=pa.table({"x": pa.array([[1], [2]])}))
    with pytest.raises(octavo.SchemaError, match="column 'x'.*cannot be sorted"):
        b.table("/l").sort_by("x")
    t = b.table("/t")
    t.repack(row_group_size=300)  # no sort: row order kept, order record dropped
    assert t.sorted_by == [] and t.info()["options"]["row_group_size"] == 300


def test_sort_is_one_commit_and_older_commit_unchanged(rand_bundle):
    b, full = rand_bundle
    before = b.commit["id"]
    b.table("/t").sort_by("f")
    assert b.commit["id"] == before + 1
    old = octavo.open(b.path, commit=before)
    assert old.table("/t").read(return_type="arrow").to_pandas().equals(full.to_pandas())
    old.close()


# --- secondary indexes --------------------------------------------------------------------------


def test_index_results_equal_scan_and_pandas(rand_bundle):
    b, full = rand_bundle
    t = b.table("/t")
    t.create_index("i")
    t.cols.f.create_index()  # PyTables spelling
    t.create_index("s")
    assert sorted(t.indexes) == ["f", "i", "s"] and t.cols.i.is_indexed
    df = full.to_pandas()
    gen = _Gen(99)
    used = 0
    for _ in range(250):
        text, fn = gen.cond()
        try:
            want = _mask(df, fn)
        except TypeError:
            continue
        with_index = t.get_where_list(text)
        used += t.last_query_stats["parts_indexed"] > 0
        without = t.get_where_list(text, use_index=False)
        assert t.last_query_stats["parts_indexed"] == 0
        np.testing.assert_array_equal(with_index, want, err_msg=text)
        np.testing.assert_array_equal(without, want, err_msg=text)
    assert used > 20
    # Point, IN and range lookups use the index; the rows are the same as a scan's.
    for cond in ["i == 3", "i IN (1, 2, 40)", "(f > 10) & (f <= 12.5)", "s == 'fig'", "(i == 3) & (f > 0)",
                 "(i == 3) | (i == -7)", "f BETWEEN -1 AND 1"]:
        got = t.read_where(cond, return_type="arrow")
        s = t.last_query_stats
        assert s["parts_indexed"] == 3 and s["index_column"] in ("i", "f", "s"), cond
        assert s["rows_scanned"] < full.num_rows, cond
        assert got.to_pandas().equals(t.read_where(cond, return_type="arrow", use_index=False).to_pandas()), cond
    # != / IS NULL / other columns cannot use it
    t.get_where_list("i != 3")
    assert t.last_query_stats["index_column"] is None


def test_index_after_append_copy_move_and_sort(rand_bundle):
    b, full = rand_bundle
    t = b.table("/t")
    t.create_index("i")
    t.append(_frame64(np.random.default_rng(4), 300))  # new part indexed on append
    df = t.read(return_type="arrow").to_pandas()
    want = np.flatnonzero((df.i == 5).to_numpy())
    np.testing.assert_array_equal(t.get_where_list("i == 5"), want)
    assert t.last_query_stats["parts_indexed"] == 4
    b.copy_node("/t", "/", "c")
    b.move_node("/t", "/g", "m")
    for p in ["/c", "/g/m"]:
        tt = b.table(p)
        assert tt.indexes == ["i"]
        np.testing.assert_array_equal(tt.get_where_list("i == 5"), want)
        assert tt.last_query_stats["parts_indexed"] == 4
    c = b.table("/c")
    c.sort_by("i")  # indexes are rebuilt for the sorted parts
    sdf = c.read(return_type="arrow").to_pandas()
    np.testing.assert_array_equal(c.get_where_list("i == 5"), np.flatnonzero((sdf.i == 5).to_numpy()))
    assert c.last_query_stats["parts_indexed"] >= 1
    c.remove_index("i")
    assert c.indexes == []
    c.get_where_list("i == 5")
    assert c.last_query_stats["parts_indexed"] == 0
    with pytest.raises(octavo.NotFoundError, match="no index on column 'i'"):
        c.remove_index("i")


def test_index_errors(rand_bundle):
    b, _ = rand_bundle
    t = b.table("/t")
    t.create_index("i")
    with pytest.raises(octavo.AlreadyExistsError, match="already has an index"):
        t.create_index("i")
    with pytest.raises(octavo.NotFoundError, match="no column 'zz'"):
        t.create_index("zz")
    with pytest.raises(octavo.NotFoundError):
        t.cols.zz  # noqa: B018 (the attribute access itself raises)


from forge import rewrite_manifest as _rewrite_manifest  # noqa: E402


def test_stale_index_is_detected_and_scanned(rand_bundle):
    b, full = rand_bundle
    t = b.table("/t")
    t.create_index("i")
    path = b.path
    b.close()

    def swap(m):  # part 0 and part 1 now point at each other's index file
        parts = m["nodes"]["/t"]["table"]["parts"]
        parts[0]["indexes"], parts[1]["indexes"] = parts[1]["indexes"], parts[0]["indexes"]
    _rewrite_manifest(path, swap)
    with octavo.open(path) as b2:
        t2 = b2.table("/t")
        df = full.to_pandas()
        np.testing.assert_array_equal(t2.get_where_list("i == 5"), np.flatnonzero((df.i == 5).to_numpy()))
        s = t2.last_query_stats
        assert s["parts_index_stale"] == 2 and s["parts_indexed"] == 1


def test_corrupt_index_file_gives_a_clear_error(rand_bundle):
    b, _ = rand_bundle
    t = b.table("/t")
    t.create_index("i")
    m = json.loads(open(os.path.join(b.path, json.loads(open(os.path.join(b.path, "CURRENT")).read())["manifest"])).read())
    idx_file = os.path.join(b.path, m["nodes"]["/t"]["table"]["parts"][1]["indexes"]["i"]["file"])
    size = os.path.getsize(idx_file)
    with open(idx_file, "r+b") as f:  # same size, garbage content
        f.write(b"\0" * size)
    with pytest.raises(octavo.CorruptionError, match=r"index file .*remove_index\('i'\)"):
        t.get_where_list("i == 5")
    # Without the index the query still answers.
    assert len(t.get_where_list("i == 5", use_index=False)) > 0
    with open(idx_file, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(octavo.CorruptionError, match="index file"):
        t.get_where_list("i == 5")
