"""Garbage collection: only unreferenced files go; every kept commit still reads in full."""
import os

import numpy as np
import pytest

import octavo


def data_files(path):
    out = set()
    for d, _, files in os.walk(os.path.join(path, "data")):
        out |= {os.path.relpath(os.path.join(d, f), path) for f in files}
    return out


def build(path):
    b = octavo.open(path, "w")
    t = b.create_table("/t", {"x": np.arange(100)})
    t.append({"x": np.arange(100, 150)})
    with b.create_file("/f") as f:
        f.write(b"version one" * 100)
    a = b.create_array("/a", np.zeros((64, 64), dtype=np.float32), chunks=(16, 64))
    a[0:16] = 1.0                              # replaces one chunk file
    b.create_snapshot("v1")
    with b.create_file("/f", overwrite=True) as f:
        f.write(b"version two" * 100)         # the old content is only in older commits
    try:                                       # an aborted transaction leaves an orphan part
        with b.transaction():
            b["/t"].append({"x": np.arange(5)})
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    w = b.create_file("/never")                # an aborted file write
    w.write(b"x" * 1000)
    w.abort()
    return b


def check_reads(b, commit_f=b"version two" * 100):
    assert b["/t"].read()["x"].tolist() == list(range(150))
    assert b["/f"].read() == commit_f
    got = b["/a"][:]
    assert (got[:16] == 1).all() and (got[16:] == 0).all()


def test_default_gc_only_removes_files_no_commit_references(tmp_path):
    path = tmp_path / "b"
    b = build(path)
    before = data_files(path)
    commits = b.commits()
    dry = b.collect_garbage(dry_run=True)
    assert data_files(path) == before          # a dry run deletes nothing
    assert dry["files_removed"] >= 1 and dry["commits_removed"] == 0
    rep = b.collect_garbage()
    assert rep["removed"] == dry["removed"]
    assert all(r.startswith("data/") for r in rep["removed"])
    assert data_files(path) == before - set(rep["removed"])
    check_reads(b)
    for c in commits:                          # every commit still opens and reads
        old = octavo.open(path, commit=c["id"])
        for node in old.walk_nodes("/"):
            if node.kind == "table":
                node.read()
            elif node.kind == "array":
                node[:]
            elif node.kind == "file":
                node.verify()
    assert b.collect_garbage()["files_removed"] == 0   # idempotent
    b.close()


def test_keep_last_drops_old_history_but_keeps_snapshots(tmp_path):
    path = tmp_path / "b"
    b = build(path)
    n_before = len(b.commits())
    v1 = b.snapshots()[0]["commit"]
    rep = b.collect_garbage(keep_last=1)
    assert rep["commits_removed"] == n_before - 2   # all but the newest and the snapshot's
    assert [c["id"] for c in b.commits()] == sorted({v1, b.commit["id"]})
    check_reads(b)
    old = octavo.open(path, snapshot="v1")
    assert old["/f"].read() == b"version one" * 100
    with pytest.raises(octavo.NotFoundError):
        octavo.open(path, commit=1)
    # what the dropped commits alone referenced is gone: here the first chunk of /a
    assert rep["bytes_freed"] > 0
    b.delete_snapshot("v1")
    rep2 = b.collect_garbage(keep_last=1)
    assert rep2["commits_removed"] == 1
    assert not any(r.endswith(".parquet") for r in rep2["removed"])  # the table is unchanged since
    check_reads(b)
    b.close()


def test_gc_needs_the_writer_and_no_transaction(tmp_path):
    path = tmp_path / "b"
    build(path).close()
    with pytest.raises(octavo.ReadOnlyError):
        octavo.open(path).collect_garbage()
    with octavo.open(path, "a") as b:
        with pytest.raises(octavo.InvalidArgumentError):
            b.collect_garbage(keep_last=0)
        with b.transaction():
            with pytest.raises(octavo.InvalidArgumentError, match="transaction"):
                b.collect_garbage()


def test_open_file_writer_is_never_collected(tmp_path):
    path = tmp_path / "b"
    b = build(path)
    w = b.create_file("/pending")
    w.write(b"p" * 5000)
    b.collect_garbage()
    w.close()
    assert b["/pending"].read() == b"p" * 5000


def test_unreadable_kept_manifest_stops_gc(tmp_path):
    path = tmp_path / "b"
    b = build(path)
    before = data_files(path)
    first = os.path.join(path, "manifests", sorted(os.listdir(os.path.join(path, "manifests")))[1])
    with open(first, "w") as f:
        f.write("{broken")
    with pytest.raises(octavo.CorruptionError, match="nothing deleted"):
        b.collect_garbage()
    assert data_files(path) == before


def test_index_and_sorted_parts_survive_gc(tmp_path):
    path = tmp_path / "b"
    with octavo.open(path, "w") as b:
        rng = np.random.default_rng(3)
        t = b.create_table("/t", {"k": rng.integers(0, 1000, 20_000), "v": rng.random(20_000)})
        t.create_index("k")
        want = sorted(t.get_where_list("k == 17"))
        t.sort_by("k")                          # rewrites the parts: the old ones become history
        b.collect_garbage(keep_last=1)
        t = b["/t"]
        got = t.read_where("k == 17", return_type="arrow")
        assert len(got) == len(want)
        assert b["/t"].read_where("(k >= 10) & (k < 12)", return_type="arrow")["k"].to_pylist() == sorted(
            b["/t"].read_where("(k >= 10) & (k < 12)", return_type="arrow")["k"].to_pylist())


def test_min_age_keeps_recent_orphans_on_disk_too(tmp_path):
    # On a disk the default window is 0 (LOCK keeps writers out), but a user can ask for one,
    # as with Delta's vacuum retention; the CLI takes the same as --min-age.
    path = tmp_path / "b"
    b = build(path)
    before = data_files(path)
    rep = b.collect_garbage(min_age=3600)
    assert rep["files_removed"] == 0 and rep["recent_kept"] >= 1  # the aborted transaction's part
    assert data_files(path) == before
    for bad in (-1, float("nan"), "1h", True):
        with pytest.raises(octavo.InvalidArgumentError):
            b.collect_garbage(min_age=bad)
    b.close()
    import json
    import subprocess
    out = subprocess.run(["octavo", "gc", str(path), "--min-age", "3600", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["files_removed"] == 0
    out = subprocess.run(["octavo", "gc", str(path), "--min-age", "0", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["files_removed"] == rep["recent_kept"]
    assert data_files(path) < before
    with octavo.open(path) as r:
        check_reads(r)
