"""Every table is a Delta Lake table (docs/format.md section 12): independent readers
(delta-rs, polars) see octavo's rows at every commit, through creates, appends, sorts,
removals, overwrites, schema changes and checkpoints."""
import json
import os

import pyarrow as pa
import pytest

import octavo

deltalake = pytest.importorskip("deltalake")
pl = pytest.importorskip("polars")


def _rows(t: pa.Table, key: str = "id") -> list[dict]:
    return sorted(t.to_pylist(), key=lambda r: r[key])


def _octavo_rows(path: str, name: str, commit: int) -> list[dict]:
    with octavo.open(path, "r", commit=commit) as b:
        return _rows(b.table(name).read_arrow())


def _check_all(path: str, name: str, commits: list[int], dpath: str | None = None) -> None:
    """At each octavo commit, delta-rs and polars read the same rows as octavo."""
    versions = []
    for c in commits:
        with octavo.open(path, "r", commit=c) as b:
            dpath = dpath or b.get_delta_path(name)
            versions.append(b.table(name).delta_version(c))
    assert versions == sorted(versions)
    assert dpath is not None
    for c, v in zip(commits, versions, strict=True):
        expect = _octavo_rows(path, name, c)
        got = deltalake.DeltaTable(dpath, version=v).to_pyarrow_table()
        assert _rows(got) == expect, (c, v)
        got_pl = pl.scan_delta(dpath, version=v).collect().to_arrow()
        assert _rows(got_pl) == expect, (c, v)


def _batch(lo: int, hi: int) -> pa.Table:
    return pa.table({"id": pa.array(range(lo, hi), pa.int64()),
                     "x": pa.array([i * 0.5 for i in range(lo, hi)], pa.float64()),
                     "s": pa.array([f"r{i % 7}" for i in range(lo, hi)], pa.string())})


def test_versions_follow_commits(bundle_path):
    commits = []
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _batch(0, 100))
        commits.append(b.commit["id"])
        b.create_group("g")  # no table change: no Delta version
        b.append_table("t", _batch(100, 150))
        commits.append(b.commit["id"])
        b.append_table("t", _batch(150, 175))
        commits.append(b.commit["id"])
        b.sort_by("t", "s")  # rewrites every part: removes + adds
        commits.append(b.commit["id"])
        b.table("t")._engine.remove_rows(10, 40, 1)
        commits.append(b.commit["id"])
        dpath = b.get_delta_path("t")
        assert b.table("t").delta_version() == 4
        # Replacing the node makes a new table (new uid): a new Delta table, version 0.
        b.add_table("t", _batch(1000, 1010), overwrite=True)
        new_path = b.get_delta_path("t")
        assert new_path != dpath and b.table("t").delta_version() == 0
        assert _rows(deltalake.DeltaTable(new_path).to_pyarrow_table()) == _rows(_batch(1000, 1010))
    log = os.path.join(dpath, "_delta_log")
    names = sorted(n for n in os.listdir(log) if n.endswith(".json"))
    assert names == [f"{v:020d}.json" for v in range(5)]
    first = [json.loads(line) for line in open(os.path.join(log, names[0]))]
    kinds = [next(iter(a)) for a in first]
    assert kinds[:3] == ["commitInfo", "protocol", "metaData"]
    assert first[1]["protocol"] == {"minReaderVersion": 1, "minWriterVersion": 2}
    add = next(a["add"] for a in first if "add" in a)
    stats = json.loads(add["stats"])
    assert stats["numRecords"] == 100 and stats["minValues"]["id"] == 0 and stats["maxValues"]["id"] == 99
    assert stats["nullCount"]["id"] == 0
    sort_actions = [json.loads(line) for line in open(os.path.join(log, names[3]))]
    assert any("remove" in a for a in sort_actions) and any("add" in a for a in sort_actions)
    _check_all(bundle_path, "t", commits, dpath)


def test_overwrite_with_new_schema_and_checkpoint(bundle_path):
    commits = []
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _batch(0, 5))
        commits.append(b.commit["id"])
        for i in range(1, 13):
            b.append_table("t", _batch(i * 5, i * 5 + 5))
            commits.append(b.commit["id"])
        dpath = b.get_delta_path("t")
        # a schema change: a new metaData action
        b.append_table("t", pa.table({"id": pa.array([999], pa.int64()), "x": [1.0], "s": ["z"],
                                      "extra": pa.array([7], pa.int32())}), schema_mode="add_columns")
        commits.append(b.commit["id"])
    log = os.path.join(dpath, "_delta_log")
    assert os.path.exists(os.path.join(log, f"{10:020d}.checkpoint.parquet"))
    assert json.load(open(os.path.join(log, "_last_checkpoint")))["version"] == 10
    _check_all(bundle_path, "t", commits)
    assert deltalake.DeltaTable(dpath).version() == 13
    assert "extra" in deltalake.DeltaTable(dpath).schema().to_arrow().names


def test_log_off_and_on(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        assert b.delta_log
        b.set_delta_log(False)
        assert not b.delta_log
        b.add_table("t", _batch(0, 10))
        dpath = b.get_delta_path("t")
        assert not os.path.exists(os.path.join(dpath, "_delta_log"))
        with pytest.raises(octavo.NotFoundError):
            b.table("t").delta_version()
        b.set_delta_log(True)  # catches up: version 0 is the table as it is now
        assert b.table("t").delta_version() == 0
        assert _rows(deltalake.DeltaTable(dpath).to_pyarrow_table()) == _rows(b.table("t").read_arrow())
    with octavo.open(bundle_path, "r") as b:
        assert b.delta_log


def test_damaged_log_does_not_break_octavo(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _batch(0, 10))
        dpath = b.get_delta_path("t")
    with open(os.path.join(dpath, "_delta_log", f"{0:020d}.json"), "w") as f:
        f.write("{not json")
    with octavo.open(bundle_path, "a") as b:
        assert len(b.table("t").read_arrow()) == 10
        b.append_table("t", _batch(10, 20))  # the log cannot be extended; the commit stands
        assert len(b.table("t").read_arrow()) == 20
        rep = b.repair_delta_logs()
        assert rep["errors"] and "/t" in rep["errors"][0]


def test_gc_truncates_log_consistently(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _batch(0, 10))
        for i in range(1, 6):
            b.append_table("t", _batch(i * 10, i * 10 + 10))
            b.table("t")._engine.remove_rows(0, 5, 1)  # rewrites the first part
        dpath = b.get_delta_path("t")
        before = set(os.listdir(dpath))
        rep = b.gc(keep_last=2)
        assert rep["files_removed"] > 0 and set(os.listdir(dpath)) != before
        commit = b.commit["id"]
        v_old = b.table("t").delta_version(commit - 1)
    log = os.path.join(dpath, "_delta_log")
    names = sorted(os.listdir(log))
    assert f"{0:020d}.json" not in names
    assert f"{v_old:020d}.checkpoint.parquet" in names
    # every version still in the log reads: none names a file gc deleted
    for v in (v_old, v_old + 1):
        got = deltalake.DeltaTable(dpath, version=v).to_pyarrow_table()
        assert _rows(got) == _octavo_rows(bundle_path, "t", commit - 1 + (v - v_old))
    with octavo.open(bundle_path, "a") as b:
        b.remove_node("/t")
        b.gc(keep_last=1)
    assert not os.path.exists(log) or not os.listdir(log)


def test_transaction_is_one_version(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _batch(0, 10))
        with b.transaction("two appends"):
            b.append_table("t", _batch(10, 20))
            b.append_table("t", _batch(20, 30))
        assert b.table("t").delta_version() == 1
        dpath = b.get_delta_path("t")
    assert deltalake.DeltaTable(dpath).to_pyarrow_table().num_rows == 30


def _files_from_log(dpath: str) -> list[str]:
    """The current version's Parquet files, replayed from the JSON log alone (no octavo)."""
    log = os.path.join(dpath, "_delta_log")
    live: dict[str, None] = {}
    for name in sorted(n for n in os.listdir(log) if n.endswith(".json")):
        for line in open(os.path.join(log, name)):
            a = json.loads(line)
            if "add" in a:
                live[a["add"]["path"]] = None
            elif "remove" in a:
                live.pop(a["remove"]["path"], None)
    return [os.path.normpath(os.path.join(dpath, p)) for p in live]


def test_pyspark_reads_the_current_version(bundle_path):
    pytest.importorskip("pyspark")
    import shutil
    if shutil.which("java") is None:
        pytest.skip("pyspark needs a Java runtime")
    from pyspark.sql import SparkSession
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", _batch(0, 50))
        b.append_table("t", _batch(50, 80))
        b.table("t")._engine.remove_rows(0, 10, 1)
        dpath = b.get_delta_path("t")
        want = _rows(b.table("t").read_arrow())
        parts = b.table("t").part_paths
    files = _files_from_log(dpath)
    assert sorted(files) == sorted(parts)
    spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    try:
        got = [r.asDict() for r in spark.read.parquet(*files).collect()]
    finally:
        spark.stop()
    assert sorted(got, key=lambda r: r["id"]) == want
