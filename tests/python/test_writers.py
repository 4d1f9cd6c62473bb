"""Many writers on one bundle (docs/format.md 5.1): processes append side by side and every
acknowledged batch lands exactly once; a change to a node another writer changed too is a
ConflictError; only gc takes the bundle to itself, and open(..., wait=) waits for it. Also the
versioning tools: restore and diff (Python and CLI)."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter

import pyarrow as pa
import pytest

import octavo

CLI = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")

# One writer process: M appends of 3 rows tagged (writer, seq); each acknowledged seq is
# written to the ack file only after append() returned.
WORKER = r"""
import sys, octavo, pyarrow as pa
path, w, m, ack = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
b = octavo.open(path, "a", wait=float("inf"))
with open(ack, "w") as f:
    for i in range(m):
        b.append_table("/t", pa.table({"writer": pa.array([w] * 3, pa.int64()),
                                       "seq": pa.array([i] * 3, pa.int64()),
                                       "k": pa.array([0, 1, 2], pa.int64())}))
        f.write(f"{i}\n")
        f.flush()
b.close()
"""


def _empty(path: str) -> None:
    with octavo.open(path, "a") as b:
        b.add_table("t", pa.table({"writer": pa.array([], pa.int64()), "seq": pa.array([], pa.int64()),
                                   "k": pa.array([], pa.int64())}))


def test_processes_appending_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "b.octavo")
    _empty(path)
    n, m = 16, 15  # concurrency 16 as in issue 19; bench_writers.py runs 16 x 200
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, path, str(w), str(m), str(tmp_path / f"ack{w}")],
                              stderr=subprocess.PIPE, text=True) for w in range(n)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    acked = {(w, int(s)) for w in range(n) for s in (tmp_path / f"ack{w}").read_text().split()}
    assert len(acked) == n * m
    with octavo.open(path) as r:
        t = r["/t"].read_arrow()
        rows = Counter(zip(t["writer"].to_pylist(), t["seq"].to_pylist(), strict=True))
        assert set(rows) == acked  # none lost, none unacknowledged
        assert set(rows.values()) == {3}  # none twice
        assert r.commit["id"] == 1 + n * m


def test_same_node_rewritten_by_two_writers_is_a_conflict(bundle_path):
    with octavo.open(bundle_path, "a") as a:
        a.add_table("t", pa.table({"x": [1, 2, 3]}))
        with octavo.open(bundle_path, "a") as b:  # a second writer is welcome
            a.add_table("t", pa.table({"x": [10]}), overwrite=True)
            with pytest.raises(octavo.ConflictError, match="'/t'.*redo the change") as e:
                b.add_table("t", pa.table({"x": [20]}), overwrite=True)
            assert isinstance(e.value, octavo.OctavoError)
            assert b.commit["id"] == a.commit["id"]  # B now sees A's commit
            assert b["/t"].read_arrow()["x"].to_pylist() == [10]
            b.add_table("t", pa.table({"x": [20]}), overwrite=True)  # redone on it, it commits
            b.add_table("u", pa.table({"y": [1]}))  # different nodes: both commit
            a.add_table("u2", pa.table({"y": [2]}))
        a.refresh()
        assert "/u" in a and "/u2" in a
        assert a["/t"].read_arrow()["x"].to_pylist() == [20]


def test_gc_needs_the_bundle_to_itself_and_open_can_wait(bundle_path):
    octavo.open(bundle_path, "a").close()
    with octavo.open(bundle_path, "a") as a, octavo.open(bundle_path, "a"):
        with pytest.raises(octavo.LockedError, match="close the other writers"):
            a.collect_garbage()
    # An exclusive holder (what gc is while it runs) makes writers fail at once, or wait.
    with open(os.path.join(bundle_path, "LOCK"), "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write("the gc of this test")
        f.flush()
        with pytest.raises(octavo.LockedError, match="the gc of this test.*wait="):
            octavo.open(bundle_path, "a")
        with pytest.raises(octavo.LockedError):
            octavo.open(bundle_path, "a", wait=0.05)
        timer = threading.Timer(0.2, lambda: fcntl.flock(f, fcntl.LOCK_UN))
        timer.start()
        with octavo.open(bundle_path, "a", wait=60) as b:
            assert b.writable
        timer.join()
    with pytest.raises(octavo.InvalidArgumentError, match="wait"):
        octavo.open(bundle_path, "a", wait=-1)


# --- restore and diff --------------------------------------------------------------------------

def _history(path: str) -> int:
    with octavo.open(path, "a") as b:
        b.add_table("t", pa.table({"x": list(range(10))}))
        b["/t"].attrs["unit"] = "mV"
        good = b.commit["id"]
        b.create_snapshot("good")
        b.append_table("t", pa.table({"x": [10, 11]}))
        b.create_group("later")
        b.remove_node("/t")
    return good


def test_restore_and_diff(bundle_path):
    good = _history(bundle_path)
    with octavo.open(bundle_path, "a") as b:
        changes = b.diff(good)
        assert [(c["path"], c["change"]) for c in changes] == [("/later", "added"), ("/t", "removed")]
        assert changes[1]["rows_before"] == 10 and changes[1]["rows_after"] is None
        data_files = sorted(os.listdir(os.path.join(bundle_path, "data")))
        c = b.restore(good)
        assert c["id"] == b.commit["id"] and f"restore commit {good}" in c["message"]
        assert sorted(os.listdir(os.path.join(bundle_path, "data"))) == data_files  # nothing copied
        assert b["/t"].read_arrow()["x"].to_pylist() == list(range(10))
        assert "/later" not in b
        assert b.diff(good) == []
        assert b.diff("good", good + 1) == [{"path": "/t", "kind": "table", "change": "modified", "rows_before": 10,
                                              "rows_after": 12, "attrs_changed": False, "content_changed": True}]
        b.create_group("again")
        assert "snapshot good" in b.restore("good")["message"]
        with pytest.raises(octavo.NotFoundError, match="no snapshot 'nope'"):
            b.restore("nope")
        with pytest.raises(octavo.InvalidArgumentError):
            b.restore(-1)
    with octavo.open(bundle_path) as r, pytest.raises(octavo.ReadOnlyError):
        r.restore(good)


def test_restore_after_gc(bundle_path):
    good = _history(bundle_path)
    with octavo.open(bundle_path, "a") as b:
        b.collect_garbage(keep_last=1)  # drops the snapshot-less commits; "good" is kept
        b.restore("good")
        assert b["/t"].read_arrow()["x"].to_pylist() == list(range(10))
        with pytest.raises(octavo.NotFoundError, match="garbage collection"):
            b.restore(good + 1)


@pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built")
def test_cli_restore_and_diff(bundle_path):
    good = _history(bundle_path)
    out = subprocess.run([CLI, "diff", bundle_path, str(good)], capture_output=True, text=True, check=True).stdout
    assert "+ /later (group)" in out and "- /t (table)" in out
    js = json.loads(subprocess.run([CLI, "diff", bundle_path, "good", str(good + 1), "--json"], capture_output=True,
                                   text=True, check=True).stdout)
    assert js[0]["path"] == "/t" and js[0]["rows_after"] == 12
    out = subprocess.run([CLI, "restore", bundle_path, "good"], capture_output=True, text=True, check=True).stdout
    assert "restore snapshot good" in out
    r = subprocess.run([CLI, "diff", bundle_path, "good"], capture_output=True, text=True, check=True)
    assert "no differences" in r.stdout
    r = subprocess.run([CLI, "restore", bundle_path, "nope"], capture_output=True, text=True)
    assert r.returncode == 3 and "no snapshot 'nope'" in r.stderr
