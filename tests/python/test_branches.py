"""Branches (docs/format.md 5.2): octavo.open(path, branch=...), create_branch / branches /
delete_branch / merge, gc keeping every branch, typed commit references (an all-digit snapshot
name), and the CLI's branch / merge commands (a conflicting merge exits 7 naming the node)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import pyarrow as pa
import pytest

import octavo

CLI = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")


def _xs(b, name="t"):
    return sorted(b[name].read_arrow()["x"].to_pylist())


def _fork(path):
    with octavo.open(path, "a") as b:
        b.add_table("t", pa.table({"x": list(range(10))}))
        b.create_branch("dev")
        return b.commit["id"]


def test_branch_commits_leave_main_and_back(bundle_path):
    fork = _fork(bundle_path)
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        assert dev.branch == "dev" and dev.commit["id"] == fork
        dev.append_table("t", pa.table({"x": [10, 11]}))
        dev.create_group("only_dev")
        dev_head = dev.commit["id"]
    with octavo.open(bundle_path) as r:
        assert r.branch == "main" and r.commit["id"] == fork and _xs(r) == list(range(10))
        assert "/only_dev" not in r
    with octavo.open(bundle_path, "a") as b:
        b.append_table("t", pa.table({"x": [100]}))
        assert b.commit["id"] > dev_head and b.commit["parent"] == fork
        assert [br["name"] for br in b.branches()] == ["dev"]
        assert b.branches()[0]["head"] == dev_head and b.branches()[0]["from"] == fork
    with octavo.open(bundle_path, branch="dev") as d:
        assert d.commit["id"] == dev_head and _xs(d) == list(range(12))
        assert [c["id"] for c in d.commits()][-1] == dev_head


def test_merge_appends_and_new_nodes(bundle_path):
    _fork(bundle_path)
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        dev.append_table("t", pa.table({"x": [10, 11]}))
        dev.create_group("from_dev")
    with octavo.open(bundle_path, "a") as b:
        b.append_table("t", pa.table({"x": [12, 13, 14]}))
        m = b.merge("dev")
        assert m["committed"] and m["commit"]["id"] == b.commit["id"]
        assert _xs(b) == list(range(15)) and "/from_dev" in b
        assert b.merge("dev")["committed"] is False  # nothing new: no commit
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        dev.append_table("t", pa.table({"x": [15]}))
    with octavo.open(bundle_path, "a") as b:
        b.merge("dev")
        assert _xs(b) == list(range(16))  # each row exactly once


def test_conflicting_merge_commits_nothing(bundle_path):
    _fork(bundle_path)
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        dev["/t"].attrs["unit"] = "mV"
    with octavo.open(bundle_path, "a") as b:
        b["/t"].attrs["unit"] = "V"
        before = b.commit["id"]
        with pytest.raises(octavo.ConflictError, match="'/t'"):
            b.merge("dev")
        assert b.commit["id"] == before
    with octavo.open(bundle_path) as r:
        assert r.commit["id"] == before and r["/t"].attrs["unit"] == "V"


@pytest.mark.parametrize("keep_last", [None, 1])
def test_branch_survives_gc(bundle_path, keep_last):
    _fork(bundle_path)
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        for i in range(3):
            dev.append_table("t", pa.table({"x": [10 + i]}))
    with octavo.open(bundle_path, "a") as b:
        b.remove_node("/t")
        b.create_group("g")
        b.collect_garbage(keep_last=keep_last)
    with octavo.open(bundle_path, branch="dev") as d:
        assert _xs(d) == list(range(13))
        assert d.diff("branch:dev", "branch:main") == [
            {"path": "/g", "kind": "group", "change": "added", "rows_before": None, "rows_after": None,
             "attrs_changed": False, "content_changed": False},
            {"path": "/t", "kind": "table", "change": "removed", "rows_before": 13, "rows_after": None,
             "attrs_changed": False, "content_changed": False}]
    with octavo.open(bundle_path, "a") as b:
        b.restore("branch:dev")  # dev's tree onto main, after gc
        assert _xs(b) == list(range(13))


def test_deleted_branch_is_collected(bundle_path):
    _fork(bundle_path)
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        dev.add_table("big", pa.table({"x": list(range(100))}))
    with octavo.open(bundle_path, "a") as b:
        b.delete_branch("dev")
        assert b.branches() == []
        report = b.collect_garbage()
        assert report["commits_removed"] == 1
        assert any(f.startswith("data/") and f.endswith(".parquet") for f in report["removed"])
        assert _xs(b) == list(range(10))
    with pytest.raises(octavo.NotFoundError, match="no branch 'dev'"):
        octavo.open(bundle_path, branch="dev")


@pytest.mark.parametrize("bad", ["../x", "", "a\0b", "x" * 200, ".hidden", "a/b"])
def test_invalid_branch_names(bundle_path, bad):
    with octavo.open(bundle_path, "a") as b:
        with pytest.raises((octavo.InvalidArgumentError, ValueError)):
            b.create_branch(bad)
        with pytest.raises((octavo.InvalidArgumentError, ValueError)):
            b.delete_branch(bad)
        assert b.branches() == []
    if bad:
        with pytest.raises((octavo.InvalidArgumentError, ValueError)):
            octavo.open(bundle_path, branch=bad)
    assert not os.path.exists(os.path.join(bundle_path, "branches"))


def test_all_digit_snapshot_name(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.create_group("a")
        b.create_snapshot("2024")
        snap = b.commit["id"]
        b.create_group("b")
        assert [c["path"] for c in b.diff("2024")] == ["/b"]
        assert "snapshot 2024" in b.restore("2024")["message"]
        assert b.diff(snap) == [] and "/b" not in b


def test_concurrent_writers_on_two_branches(bundle_path):
    _fork(bundle_path)
    errors = []

    def write(branch, first):
        try:
            with octavo.open(bundle_path, "a", branch=branch) as w:
                for i in range(10):
                    w.append_table("t", pa.table({"x": [first + i]}))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=("main", 1000)),
               threading.Thread(target=write, args=("dev", 2000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with octavo.open(bundle_path) as r:
        assert _xs(r) == list(range(10)) + list(range(1000, 1010))
    with octavo.open(bundle_path, branch="dev") as d:
        assert _xs(d) == list(range(10)) + list(range(2000, 2010))


@pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built")
def test_cli_branch_merge_and_conflict(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.add_table("t", pa.table({"x": [1]}))

    def run(*args):
        return subprocess.run([CLI, *args], capture_output=True, text=True)

    r = run("branch", bundle_path, "create", "dev")
    assert r.returncode == 0, r.stderr
    assert "branch dev -> commit" in r.stdout
    listing = json.loads(run("branch", bundle_path, "list", "--json").stdout)
    assert [x["name"] for x in listing] == ["main", "dev"]
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        dev["/t"].attrs["unit"] = "mV"
        dev.create_group("g")
    log = run("log", bundle_path, "--branch", "dev")
    assert log.returncode == 0 and "set attribute" in log.stdout
    with octavo.open(bundle_path, "a") as b:
        b["/t"].attrs["unit"] = "V"
    r = run("merge", bundle_path, "dev")
    assert r.returncode == 7, (r.returncode, r.stderr)
    assert "'/t'" in r.stderr
    # The conflict resolved on the branch (main's value taken), the merge goes through.
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        dev["/t"].attrs["unit"] = "V"
    r = run("merge", bundle_path, "dev", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["committed"] is True
    with octavo.open(bundle_path) as m:
        assert "/g" in m
    d = run("diff", bundle_path, "branch:dev", "branch:main")
    assert d.returncode == 0, d.stderr
    r = run("branch", bundle_path, "delete", "dev")
    assert r.returncode == 0 and "deleted branch dev" in r.stdout
    r = run("branch", bundle_path, "delete", "dev")
    assert r.returncode == 3


@pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built")
def test_cli_typed_refs(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.create_group("a")
        b.create_snapshot("2024")
        b.create_group("b")
    r = subprocess.run([CLI, "diff", bundle_path, "snapshot:2024", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert [c["path"] for c in json.loads(r.stdout)] == ["/b"]
    r = subprocess.run([CLI, "restore", bundle_path, "snapshot:2024"], capture_output=True, text=True)
    assert r.returncode == 0 and "restore snapshot 2024" in r.stdout, r.stderr
    r = subprocess.run([CLI, "restore", bundle_path, "2024"], capture_output=True, text=True)
    assert r.returncode == 3  # commit 2024, which does not exist


def test_cli_at_opens_a_branch_snapshot_or_commit(bundle_path):
    fork = _fork(bundle_path)
    with octavo.open(bundle_path, "a") as b:
        with b.create_file("/f") as f:
            f.write(b"v1")
        b.create_snapshot("v1")
        b.create_file("/f", overwrite=True).close()  # empty now
    with octavo.open(bundle_path, "a", branch="dev") as dev:
        dev.append_table("t", pa.table({"x": [10, 11]}))

    def run(*args):
        return subprocess.run([CLI, *args], capture_output=True, text=True)

    r = run("tree", bundle_path, "--at", "branch:dev", "--json")
    assert r.returncode == 0, r.stderr
    assert "/f" not in r.stdout and "12" in r.stdout  # dev forked before /f; its /t has 12 rows
    r = run("--at", str(fork), "head", f"{bundle_path}:/t", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 10
    assert run("cat", f"{bundle_path}:/f", "--at", "snapshot:v1").stdout == "v1"
    assert run("cat", f"{bundle_path}:/f").stdout == ""
    r = run("where", f"{bundle_path}:/t", "x >= 10", "--at", "branch:dev", "--json")
    assert r.returncode == 0 and [row["x"] for row in json.loads(r.stdout)] == [10, 11], r.stderr
    # A command that writes takes only a branch: an old commit is read-only.
    r = run("rm", f"{bundle_path}:/f", "--at", "v1")
    assert r.returncode == 2 and "read-only" in r.stderr
    r = run("rm", f"{bundle_path}:/t", "--at", "branch:dev")
    assert r.returncode == 0, r.stderr
    with octavo.open(bundle_path, branch="dev") as dev, octavo.open(bundle_path) as main:
        assert "/t" not in dev and "/t" in main
    r = run("log", bundle_path, "--branch", "dev", "--at", "branch:other")
    assert r.returncode == 2
    r = run("tree", bundle_path, "--at", "snapshot:nosuch")
    assert r.returncode == 3 and "nosuch" in r.stderr
