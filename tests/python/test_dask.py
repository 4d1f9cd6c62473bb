"""octavo.dask.read_table: a lazy dask DataFrame, one partition per part, read through octavo."""
import pyarrow as pa
import pytest

import octavo

dask = pytest.importorskip("dask")
pytest.importorskip("dask.dataframe")
from octavo.dask import read_table  # noqa: E402


def _batch(lo: int, hi: int) -> pa.Table:
    return pa.table({"id": pa.array(range(lo, hi), pa.int64()), "x": [i * 0.5 for i in range(lo, hi)],
                     "s": [f"r{i % 3}" for i in range(lo, hi)]})


@pytest.fixture
def path(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _batch(0, 100))
        b.append_table("t", _batch(100, 130))
        b.append_table("t", _batch(130, 200))
    return bundle_path


def test_partitions_per_part_and_rows(path):
    ddf = read_table(path, "/t")
    assert ddf.npartitions == 3
    got = ddf.compute(scheduler="synchronous")
    with octavo.open(path, "r") as b:
        want = b.table("t").read(return_type="pandas").reset_index(drop=True)
    assert got.reset_index(drop=True).to_dict("list") == want.to_dict("list")
    assert list(ddf.columns) == ["id", "x", "s"]


def test_columns_where_and_commit(path):
    with octavo.open(path, "r") as b:
        first = b.commits()[-3]["id"]  # the create
    ddf = read_table(path, "/t", columns=["id", "s"], where="(id >= 90) & (s == 'r0')")
    got = ddf.compute(scheduler="synchronous")
    assert list(got.columns) == ["id", "s"]
    assert sorted(got["id"]) == [i for i in range(90, 200) if i % 3 == 0]
    old = read_table(path, "/t", commit=first).compute(scheduler="synchronous")
    assert len(old) == 100
    # a later commit does not change a dataframe planned on an earlier one
    with octavo.open(path, "a") as b:
        b.append_table("t", _batch(200, 210))
    assert len(ddf.compute(scheduler="synchronous")) == len(got)
