"""bundle.scan(): a polars LazyFrame over a table with projection, predicate and row-limit
pushdown (issue 17); results equal polars on the same data."""
import numpy as np
import polars as pl
import pytest

from octavo.scan import polars_to_condition


@pytest.fixture
def data(bundle):
    rng = np.random.default_rng(3)
    n = 20_000
    df = pl.DataFrame({"id": np.arange(n), "host": rng.choice(["glidein-1", "node2", "gpu3"], n),
                       "x": np.where(rng.random(n) < 0.05, np.nan, rng.random(n)),
                       "k": rng.integers(0, 50, n)})
    df = df.with_columns(pl.when(pl.col("id") % 7 == 0).then(None).otherwise(pl.col("host")).alias("host"))
    bundle.create_table("/t", data=df, row_group_size=1000)
    return df


@pytest.mark.parametrize("expr", [
    (pl.col("id") > 15_000) & (pl.col("host") == "gpu3"),
    (pl.col("id") < 100) | pl.col("host").is_null(),
    pl.col("x") > 0.5,                                  # float: polars alone (NaN order)
    (pl.col("k") >= 10) & (pl.col("x").is_nan() | (pl.col("x") < 0.1)),
    pl.col("host").str.starts_with("glide") & (pl.col("id") != 3),
])
def test_filter_select_equal_polars(bundle, data, expr):
    got = bundle.scan("/t").filter(expr).select("id", "host").collect()
    want = data.lazy().filter(expr).select("id", "host").collect()
    assert got.equals(want)


def test_head_and_projection(bundle, data):
    got = bundle.scan("/t").filter(pl.col("id") >= 19_990).head(3).collect()
    assert got["id"].to_list() == [19_990, 19_991, 19_992]
    assert bundle.scan("/t").select("k").collect().columns == ["k"]
    assert bundle.table("/t").lazy().group_by("host").len().collect().height == 4


def test_predicate_pushdown_prunes(bundle, data):
    t = bundle.table("/t")
    assert t.lazy().filter(pl.col("id") > 19_500).collect().height == 499
    st = t.last_query_stats
    assert st is not None and st["row_groups_skipped"] >= 19


def test_translation():
    import pyarrow as pa
    s = pa.schema([("a", pa.int64()), ("f", pa.float64()), ("s", pa.string())])
    assert polars_to_condition((pl.col("a") > 3) & (pl.col("s") == "it's"), s) == "(`a` > 3) & (`s` == 'it''s')"
    assert polars_to_condition(pl.col("f") > 3, s) is None
    assert polars_to_condition((pl.col("a") > 3) & (pl.col("f") > 1), s) == "`a` > 3"
    assert polars_to_condition((pl.col("a") > 3) | (pl.col("f") > 1), s) is None
    assert polars_to_condition(pl.lit(3) < pl.col("a"), s) == "`a` > 3"
