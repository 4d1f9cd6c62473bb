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


# --- sorted tables: an index with known divisions ------------------------------------------------

def _shuffled(n: int, seed: int = 7) -> pa.Table:
    import numpy as np

    ids = np.random.default_rng(seed).permutation(n)
    return pa.table({"id": pa.array(ids, pa.int64()), "x": ids * 0.5, "s": [f"r{i % 3}" for i in ids]})


@pytest.fixture
def sorted_path(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _shuffled(200), part_max_rows=64)
        b.table("t").sort_by("id", row_group_size=16)
    return bundle_path


def test_sorted_table_has_known_divisions(sorted_path):
    with octavo.open(sorted_path, "r") as b:
        parts = len(b.table("t").part_paths)
    assert parts > 1  # the test needs several partitions
    ddf = read_table(sorted_path, "/t")
    assert ddf.index.name == "id" and list(ddf.columns) == ["x", "s"]
    assert ddf.known_divisions and ddf.npartitions == parts
    # each division is the first id of its partition, the last one the table's last id
    firsts = [int(part.compute(scheduler="synchronous").index[0]) for part in ddf.to_delayed()]
    assert list(ddf.divisions) == [*firsts, 199]
    got = ddf.compute(scheduler="synchronous")
    assert list(got.index) == list(range(200)) and list(got["x"]) == [i * 0.5 for i in range(200)]
    # loc on the index reads only the partition that can hold the key
    sel = ddf.loc[150:151]
    assert sel.npartitions == 1
    assert list(sel.compute(scheduler="synchronous")["x"]) == [75.0, 75.5]


def test_divisions_per_row_group_run(sorted_path):
    ddf = read_table(sorted_path, "/t", rows_per_partition=32)
    assert ddf.known_divisions
    sizes = ddf.map_partitions(len).compute(scheduler="synchronous").tolist()
    assert sum(sizes) == 200 and max(sizes) <= 32 and len(sizes) > 4
    assert list(ddf.divisions[:2]) == [0, sizes[0]]
    assert ddf.loc[100].compute(scheduler="synchronous")["s"].tolist() == ["r1"]


def test_divisions_unknown_when_not_provable(bundle_path):
    import numpy as np

    with octavo.open(bundle_path, "a") as b:
        # a key run that crosses a partition boundary: k = i // 10 with 16-row row groups
        k = np.random.default_rng(1).permutation(np.arange(200) // 10)
        b.add_table("dup", pa.table({"k": pa.array(k, pa.int64()), "v": np.arange(200)}))
        b.table("dup").sort_by("k", row_group_size=16)
        b.add_table("t", _shuffled(100))
        b.table("t").sort_by("id", row_group_size=16)
        b.append_table("t", _shuffled(10))  # rows after the sorted run
    dup = read_table(bundle_path, "/dup", rows_per_partition=16)
    assert dup.index.name == "k" and not dup.known_divisions
    assert sorted(dup.compute(scheduler="synchronous").index) == sorted(k.tolist())
    t = read_table(bundle_path, "/t", rows_per_partition=16)
    assert t.index.name == "id" and not t.known_divisions and len(t.compute(scheduler="synchronous")) == 110
    # unsorted tables: no index unless asked for; an index column is read even if not selected
    plain = read_table(bundle_path, "/t", index=False)
    assert list(plain.columns) == ["id", "x", "s"]
    by_x = read_table(bundle_path, "/t", columns=["s"], index="x")
    assert by_x.index.name == "x" and list(by_x.columns) == ["s"] and not by_x.known_divisions
    with pytest.raises(octavo.SchemaError, match="no column 'nope'"):
        read_table(bundle_path, "/t", index="nope")
    with pytest.raises(octavo.InvalidArgumentError, match="rows_per_partition"):
        read_table(bundle_path, "/t", rows_per_partition=0)


def test_where_is_applied_in_each_partition_task(path):
    ddf = read_table(path, "/t", where="(id >= 90) & (id < 140)")
    # the filter runs inside each part's task: partitions arrive already filtered
    assert ddf.map_partitions(len).compute(scheduler="synchronous").tolist() == [10, 30, 10]
    with pytest.raises(octavo.OctavoError):  # a bad condition fails when planning, not in the workers
        read_table(path, "/t", where="nope > 1")


# --- a local cluster of worker processes ------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_local_cluster_reads_tables_and_arrays(client, sorted_path):
    import numpy as np

    ddf = read_table(sorted_path, "/t", columns=["x"], where="(id >= 50) & (s != 'r0')")
    assert ddf.known_divisions
    got = ddf.compute()  # on the cluster's worker processes
    want = [i for i in range(50, 200) if i % 3 != 0]
    assert list(got.index) == want and list(got["x"]) == [i * 0.5 for i in want]
    # the workers are other processes: each task opened the bundle itself
    pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2 and __import__("os").getpid() not in pids

    data = np.arange(40 * 30, dtype=np.float32).reshape(40, 30)
    with octavo.open(sorted_path, "a") as b:
        b.create_array("/cube", data, chunks=(16, 8))
        old = b.commit["id"]
        b["/cube"][0, 0] = -1.0
    with octavo.open(sorted_path, "r", commit=old) as b:
        d = b["/cube"].to_dask()
    assert (d.sum().compute() == data.sum()) and np.array_equal(d[5:33:3, 7:].compute(), data[5:33:3, 7:])

    from octavo.dask import read_tasks

    tasks = read_tasks(sorted_path, "/t", columns=["id"], where="id < 20", rows_per_partition=16)
    parts = client.gather(client.map(lambda task: task(), tasks))  # any executor: a task is a picklable callable
    assert pa.concat_tables(parts).column("id").to_pylist() == list(range(20))


# --- arrays ------------------------------------------------------------------------------------------

def test_array_to_dask_matches_numpy_and_chunk_grid(bundle_path):
    import numpy as np

    data = np.arange(10 * 21 * 6, dtype=np.int32).reshape(10, 21, 6)
    with octavo.open(bundle_path, "a") as b:
        b.create_array("/g/a", data, chunks=(4, 8, 6))
        d = b["/g/a"].to_dask()
        assert d.chunks == ((4, 4, 2), (8, 8, 5), (6,))  # one dask chunk per stored chunk
        assert d.dtype == data.dtype and d.shape == data.shape
        assert np.array_equal(d.compute(scheduler="synchronous"), data)
        assert np.array_equal(d[::-2, 3:17, 1].compute(scheduler="synchronous"), data[::-2, 3:17, 1])
        assert d.name == b["/g/a"].to_dask().name  # same commit, same graph name
        b["/g/a"][0] = 0
        # a later commit: the old graph keeps its contents, a new one sees the write
        assert np.array_equal(d.compute(scheduler="synchronous"), data)
        d2 = b["/g/a"].to_dask()
        assert d2.name != d.name and int(d2[0].sum().compute(scheduler="synchronous")) == 0
