"""`octavo put / cat / rm / mv` and file nodes in `octavo tree`."""
from __future__ import annotations

import json
import os
import subprocess

import octavo
from test_cli import CLI, assert_fails, run, run_json  # noqa: F401 (same binary and helpers)


def test_put_cat_round_trip_binary(tmp_path):
    src = tmp_path / "photo.jpg"
    data = os.urandom(3_000_000) + b"\x00\n\r\xff"
    src.write_bytes(data)
    b = tmp_path / "b"
    out = run("put", src, f"{b}:/images/photo.jpg")
    assert "images/photo.jpg" in out.stdout
    cat = subprocess.run([CLI, "cat", f"{b}:/images/photo.jpg"], capture_output=True, timeout=60)
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == data
    with octavo.open(b) as bundle:
        assert bundle["/images/photo.jpg"].read() == data


def test_put_defaults_to_the_file_name_and_json(tmp_path):
    src = tmp_path / "config.yaml"
    src.write_text("a: 1\n")
    b = tmp_path / "b"
    info = run_json("put", src, b)
    assert info["path"] == "/config.yaml" and info["size"] == 5
    assert info["digest"].startswith("blake2b-256:")
    r = run("put", src, f"{b}:/config.yaml", check=False)
    assert_fails(r, 1, "already exists", "overwrite")
    src.write_text("a: 2\n")
    run("put", "--overwrite", src, f"{b}:/config.yaml")
    assert run("cat", f"{b}:/config.yaml").stdout == "a: 2\n"


def test_tree_lists_file_nodes_with_size(tmp_path):
    b = tmp_path / "b"
    with octavo.open(b, "w") as bundle:
        with bundle.create_file("/docs/notes.txt") as f:
            f.write(b"x" * 2048)
    t = run("tree", b).stdout
    assert "notes.txt" in t and "file" in t and "2.00 KiB" in t, t
    j = run_json("tree", b)
    nodes = {n["path"]: n for n in j["nodes"]} if isinstance(j, dict) and "nodes" in j else None
    text = json.dumps(j)
    assert "/docs/notes.txt" in text and "2048" in text, text
    del nodes


def test_rm_and_mv(tmp_path):
    b = tmp_path / "b"
    with octavo.open(b, "w") as bundle:
        bundle.create_table("/g/t", {"x": [1, 2, 3]})
        with bundle.create_file("/g/f.bin") as f:
            f.write(b"abc")
        bundle.create_group("/dest")
    assert_fails(run("rm", f"{b}:/g", check=False), 1, "-r")
    run("mv", f"{b}:/g/f.bin", "/dest")          # into an existing group
    run("mv", f"{b}:/g/t", f"{b}:/renamed/t2")   # address form, parents created
    with octavo.open(b) as bundle:
        assert bundle["/dest/f.bin"].read() == b"abc"
        assert bundle["/renamed/t2"].read()["x"].tolist() == [1, 2, 3]
        assert "/g/t" not in bundle
    out = run_json("rm", "-r", f"{b}:/renamed")
    assert out["removed"] == "/renamed" and out["kind"] == "group"
    with octavo.open(b) as bundle:
        assert "/renamed" not in bundle
        assert len(bundle.commits()) >= 5


def test_errors(tmp_path):
    b = tmp_path / "b"
    with octavo.open(b, "w") as bundle:
        bundle.create_group("/g")
    assert_fails(run("cat", f"{b}:/g", check=False), 4, "not a file node")
    assert_fails(run("cat", f"{b}:/nope", check=False), 3, "/nope")
    assert_fails(run("put", tmp_path / "missing.bin", f"{b}:/x", check=False), 3, "missing.bin")
    assert_fails(run("rm", f"{b}:/nope", check=False), 3, "/nope")
    assert_fails(run("mv", f"{b}:/g", "/../etc", check=False), 1, "..")
    assert_fails(run("mv", f"{b}:/g", f"{tmp_path}/other:/x", check=False), 2)


def test_cat_detects_damaged_content(tmp_path):
    b = tmp_path / "b"
    with octavo.open(b, "w") as bundle:
        with bundle.create_file("/f") as f:
            f.write(b"0123456789" * 1000)
        blob = os.path.join(b, bundle.file_info("/f")["blob"])
    with open(blob, "r+b") as fh:
        fh.seek(10)
        fh.write(b"X")
    r = subprocess.run([CLI, "cat", f"{b}:/f"], capture_output=True, timeout=60)
    assert r.returncode == 5, r.stderr
    assert b"damaged at bytes 0-9999" in r.stderr and r.stdout == b""  # nothing unchecked was written


def test_log_and_snapshot(tmp_path):
    b = tmp_path / "b"
    with octavo.open(b, "w") as bundle:
        bundle.create_table("/t", {"x": [1]})
    out = run_json("snapshot", b, "v1", "-m", "first")
    assert out["name"] == "v1" and out["commit"] == 1
    with octavo.open(b, "a") as bundle:
        bundle.create_group("/g")
    log = run("log", b).stdout.splitlines()
    assert log[0].startswith("commit 2") and "[v1]" in log[1], log
    j = run_json("log", b, "-n", "1")
    assert [c["id"] for c in j["commits"]] == [2] and j["snapshots"][0]["name"] == "v1"
    assert_fails(run("snapshot", b, "../bad", check=False), 1, "snapshot name")
    run("snapshot", "-d", b, "v1")
    assert run_json("log", b)["snapshots"] == []


def test_gc_command(tmp_path):
    b = tmp_path / "b"
    with octavo.open(b, "w") as bundle:
        with bundle.create_file("/f") as f:
            f.write(b"one" * 1000)
        with bundle.create_file("/f", overwrite=True) as f:
            f.write(b"two" * 1000)
    dry = run_json("gc", b, "--keep-last", "1", "--dry-run")
    assert dry["dry_run"] and dry["files_removed"] >= 2 and dry["bytes_freed"] >= 3000
    out = run("gc", b, "--keep-last", "1").stdout
    assert out.startswith("freed ") and "dropped" in out
    assert run("cat", f"{b}:/f").stdout == "two" * 1000
    assert run_json("gc", b)["files_removed"] == 0
