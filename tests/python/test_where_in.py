"""Long IN lists (a set lookup, octavo issue 13) give pyarrow's / pandas' isin rows, with
pandas' missing-value semantics, prune row groups and use secondary indexes."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import octavo

N = 300_000
NAN = {"nan": float("nan")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(13)
    ids = rng.permutation(N) * 3  # multiples of 3, shuffled
    f = rng.integers(0, 50_000, N).astype(np.float64) / 4
    f[rng.random(N) < 0.05] = np.nan
    f_mask = rng.random(N) < 0.05
    i_mask = rng.random(N) < 0.05
    words = np.array([f"w{k:06d}" for k in range(40_000)], dtype=object)[rng.integers(0, 40_000, N)]
    s_mask = rng.random(N) < 0.05
    table = pa.table({
        "id": pa.array(ids, type=pa.int64()),
        "k": pa.array(ids // 3 % 100_000, mask=i_mask, type=pa.int32()),
        "f": pa.array(f, mask=f_mask, type=pa.float64()),
        "s": pa.array(words, mask=s_mask, type=pa.string()),
        "sorted": pa.array(np.arange(N), type=pa.int64()),
    })
    path = str(tmp_path_factory.mktemp("in") / "in.octavo")
    b = octavo.open(path, "a")
    b.create_table("/t", data=table, row_group_size=10_000)
    yield b.table("/t"), table, path
    b.close()


def _rows_like_isin(table: pa.Table, column: str, values) -> np.ndarray:
    """What `column IN (values)` selects, by pyarrow: null and NaN are in no list."""
    col = table[column]
    vals = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if pa.types.is_integer(col.type):  # a fraction equals no integer
        vals = [int(v) for v in vals if v == int(v)]
    mask = pc.fill_null(pc.is_in(col, value_set=pa.array(vals, type=col.type)), False)
    if pa.types.is_floating(col.type):
        mask = pc.and_(mask, pc.invert(pc.fill_null(pc.is_nan(col), False)))
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def _literal(v) -> str:
    if v is None:
        return "None"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, float) and np.isnan(v):
        return "nan"
    return repr(v)


@pytest.mark.parametrize("count", [30_000, 200_000])
def test_long_in_lists_match_isin(data, count):
    t, table, _ = data
    rng = np.random.default_rng(count)
    n = table.num_rows
    cases = {
        # present and absent ids (not multiples of 3), as Python ints
        "id": [int(v) for v in rng.integers(0, 3 * n, count)],
        # int column, float literals: whole floats compare equal, fractions never do
        "k": [float(v) if j % 3 == 0 else (float(v) + 0.5 if j % 3 == 1 else int(v))
              for j, v in enumerate(rng.integers(0, 100_000, count).tolist())],
        "f": [float(v) for v in (rng.integers(0, 50_000, count) / 4).tolist()] + [np.nan],
        "s": [f"w{v:06d}" for v in rng.integers(0, 80_000, count)] + [None],
    }
    for column, values in cases.items():
        text = f"{column} IN (" + ",".join(_literal(v) for v in values) + ")"
        want = _rows_like_isin(table, column, values)
        assert len(want) > 0
        np.testing.assert_array_equal(t.get_where_list(text, condvars=NAN), want, err_msg=column)
        np.testing.assert_array_equal(t.get_where_list("~(" + text + ")", condvars=NAN),
                                      np.setdiff1d(np.arange(n), want), err_msg=column)
        if column in ("id", "s"):
            got = t.read_where(text, return_type="arrow", columns=["sorted", column], condvars=NAN)
            np.testing.assert_array_equal(got["sorted"].to_numpy(), want)
            assert got[column].equals(table[column].take(pa.array(want)))


def test_in_list_with_null_and_nan_against_pandas(data):
    t, table, _ = data
    df = table.to_pandas()
    vals = [0.0, 0.25, 7.5, float("nan")] + [float(v) / 4 for v in range(1000, 40_000, 3)]
    text = "f IN (" + ",".join(_literal(v) for v in vals) + ")"
    # pandas' isin matches NaN to NaN; == does not, and IN keeps ==: drop NaN rows.
    want = np.flatnonzero(df.f.isin(vals) & df.f.notna())
    np.testing.assert_array_equal(t.get_where_list(text, condvars=NAN), want)
    np.testing.assert_array_equal(t.get_where_list("f NOT IN (" + text[6:], condvars=NAN),
                                  np.flatnonzero(~(df.f.isin(vals) & df.f.notna())))
    text = "s IN (None, " + ",".join(repr(f"w{k:06d}") for k in range(0, 40_000, 7)) + ")"
    want = np.flatnonzero(df.s.isin([f"w{k:06d}" for k in range(0, 40_000, 7)]))
    np.testing.assert_array_equal(t.get_where_list(text), want)


def test_in_list_prunes_row_groups_between_listed_values(data):
    """`sorted` is 0..N-1 in 10,000-row groups: a list whose values lie around a row group,
    but none inside it, must not read it (the list's min and max alone would)."""
    t, _, _ = data
    outside = [v for v in range(0, N, 7) if not 50_000 <= v < 250_000]
    text = "sorted IN (" + ",".join(map(str, outside)) + ")"
    got = t.get_where_list(text)
    np.testing.assert_array_equal(got, np.array(outside))
    s = t.last_query_stats
    assert s["row_groups_total"] == 30
    assert s["row_groups_skipped"] == 20, s
    # NOT IN can rule nothing out here, and reads everything
    t.get_where_list("sorted NOT IN (" + text[11:])
    assert t.last_query_stats["row_groups_skipped"] == 0


def test_in_list_uses_secondary_index(tmp_path):
    rng = np.random.default_rng(5)
    n = 1_000_000  # an index is not used for parts where it would narrow little (small ones)
    ids = rng.permutation(n)
    path = str(tmp_path / "ix.octavo")
    with octavo.open(path, "w") as b:
        b.create_table("/t", data=pa.table({"id": ids, "x": rng.random(n)}), row_group_size=50_000)
        t = b.table("/t")
        t.create_index("id")
        wanted = rng.choice(n, 30_000, replace=False)
        text = "id IN (" + ",".join(map(str, wanted)) + ")"
        want = np.flatnonzero(np.isin(ids, wanted))
        np.testing.assert_array_equal(t.get_where_list(text), want)
        np.testing.assert_array_equal(t.get_where_list(text, use_index=False), want)
        # close values: one index row group to read, 20 candidate rows to test
        near = list(range(5000, 5040, 2))
        few = "id IN (" + ",".join(map(str, near)) + ")"
        np.testing.assert_array_equal(t.get_where_list(few), np.flatnonzero(np.isin(ids, near)))
        s = t.last_query_stats
        assert s["index_column"] == "id" and s["parts_indexed"] == 1, s
        assert s["rows_scanned"] == 20, s


def test_parse_of_huge_lists_runs(data):
    """No timing threshold: a million-value list parses, compiles and answers."""
    t, table, _ = data
    vals = list(range(0, 3_000_000, 3))
    got = t.get_where_list("id IN (" + ",".join(map(str, vals)) + ")")
    assert len(got) == table.num_rows
