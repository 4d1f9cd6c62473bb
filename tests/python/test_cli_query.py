"""`octavo where / sql / repack / index` run as subprocesses against bundles written from Python."""
from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import pytest

import octavo
from test_cli import CLI, assert_fails, run, run_json

pytestmark = pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built / not on PATH")


@pytest.fixture
def qbundle(tmp_path):
    path = str(tmp_path / "q.octavo")
    n = 2000
    df = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "x": np.random.default_rng(2).random(n),
        "name": [f"n{i % 5}" for i in range(n)],
    })
    with octavo.open(path, "w") as b:
        b.create_table("/data/t", data=df, row_group_size=200)
        b.add_table("meta", pd.DataFrame({"name": [f"n{i}" for i in range(5)], "w": np.arange(5) * 10}))
    return path, df


def test_where_text_json_csv(qbundle):
    path, df = qbundle
    r = run("where", f"{path}:/data/t", "(id >= 10) & (id < 13)", "--columns", "id,name")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "name"]
    assert [ln.split() for ln in lines[2:5]] == [["10", "n0"], ["11", "n1"], ["12", "n2"]]
    assert lines[5] == "(3 rows)"
    rows = run_json("where", f"{path}:/data/t", "name == 'n3' AND id < 30", "--columns", "id")
    assert rows == [{"id": i} for i in range(30) if i % 5 == 3]
    r = run("where", f"{path}:/data/t", "id < 4", "--csv", "--columns", "id,x")
    got = pd.read_csv(io.StringIO(r.stdout))
    pd.testing.assert_frame_equal(got, df[df.id < 4][["id", "x"]].reset_index(drop=True))


def test_where_limit_range_and_stats(qbundle):
    path, df = qbundle
    r = run("where", f"{path}:/data/t", "x > 0.5", "--limit", "3", "--columns", "id")
    assert "(first 3 rows; more match" in r.stdout
    want = df[df.x > 0.5].id.tolist()[:3]
    assert [int(ln.split()[0]) for ln in r.stdout.splitlines()[2:5]] == want
    out = run_json("where", f"{path}:/data/t", "id == 1234", "--stats")
    assert out["rows"][0]["id"] == 1234 and out["more"] is False
    s = out["stats"]
    assert s["row_groups_total"] == 10 and s["row_groups_skipped"] == 9 and s["rows_selected"] == 1
    out = run_json("where", f"{path}:/data/t", "id >= 0", "--start", "100", "--stop", "105", "--columns", "id")
    assert [r["id"] for r in out] == [100, 101, 102, 103, 104]
    r = run("where", f"{path}:/data/t", "id == 5", "--stats")
    assert "row groups: 9 of 10 skipped" in r.stdout


def test_where_errors(qbundle):
    path, _ = qbundle
    r = run("where", f"{path}:/data/t", "(id > ", check=False)
    assert_fails(r, 2, "invalid condition")  # a syntax error is a usage error
    assert "^" in r.stderr  # the caret line under the position survives
    r = run("where", f"{path}:/data/t", "~" * 5000 + "(id > 1)", check=False)
    assert_fails(r, 2, "nests deeper than 256")
    ids = ",".join(str(i) for i in range(0, 30_000, 2))  # 15,000 ids (one argument is at most 128 KiB)
    r = run("where", f"{path}:/data/t", f"id IN ({ids})", "--csv")
    assert len(r.stdout.strip().splitlines()) == 1 + 1000
    r = run("where", f"{path}:/data/t", "nope > 1", check=False)
    assert_fails(r, 3, "nope", "id, x, name")
    r = run("where", f"{path}:/data", "id > 1", check=False)
    assert_fails(r, 4, "needs a table")
    r = run("where", f"{path}:/data/t", "id > 1", "--csv", "--json", check=False)
    assert_fails(r, 2, "exclude each other")


def test_sql_outputs(qbundle):
    path, df = qbundle
    r = run("sql", path, 'SELECT name, count(*) AS n FROM "/data/t" GROUP BY name ORDER BY name')
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["name", "n"]
    assert [ln.split() for ln in lines[2:7]] == [[f"n{i}", "400"] for i in range(5)]
    assert lines[7] == "(5 rows)"
    rows = run_json("sql", path, 'SELECT t.id, m.w FROM "/data/t" t JOIN meta m USING (name) '
                                 "WHERE t.id < 3 ORDER BY t.id")
    assert rows == [{"id": 0, "w": 0}, {"id": 1, "w": 10}, {"id": 2, "w": 20}]
    r = run("sql", path, 'SELECT id, x FROM "/data/t" ORDER BY id', "--csv", "--limit", "5")
    got = pd.read_csv(io.StringIO(r.stdout))
    pd.testing.assert_frame_equal(got, df[["id", "x"]].head(5))
    r = run("sql", path, 'SELECT id FROM "/data/t"', "--limit", "2")
    assert "(first 2 rows; more match" in r.stdout


def test_sql_errors(qbundle, tmp_path):
    path, _ = qbundle
    r = run("sql", path, "SELECT * FROM missing_table", check=False)
    assert_fails(r, 1, "SQL query failed", "missing_table")
    r = run("sql", str(tmp_path / "nothere"), "SELECT 1", check=False)
    assert r.returncode == 3 and r.stderr.startswith("octavo: error: ")
    r = run("sql", f"{path}:/data/t", "SELECT 1", check=False)
    assert_fails(r, 2, "takes a BUNDLE")
    env = dict(os.environ, OCTAVO_PYTHON="/nonexistent/python3")
    import subprocess
    r = subprocess.run([CLI, "sql", path, "SELECT 1"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and "OCTAVO_PYTHON" in r.stderr and "cannot be started" in r.stderr


def test_repack_and_index_commands(qbundle):
    path, df = qbundle
    out = run_json("repack", f"{path}:/data/t", "--sort-by", "x", "--row-group-size", "100")
    assert out["sorted_by"] == ["x"] and out["rows"] == 2000 and out["row_group_size"] == 100
    with octavo.open(path) as b:
        got = b.table("/data/t").read(columns=["x"], return_type="arrow").column("x").to_numpy()
    assert (np.diff(got) >= 0).all()
    s = run_json("where", f"{path}:/data/t", "x < 0.01", "--stats")["stats"]
    assert s["parts_sorted"] == 1 and s["row_groups_total"] - s["row_groups_skipped"] == 1
    r = run("index", f"{path}:/data/t", "create", "name")
    assert "created index on /data/t column name" in r.stdout
    assert run_json("index", f"{path}:/data/t", "list")["indexes"] == ["name"]
    s = run_json("where", f"{path}:/data/t", "name == 'n2'", "--stats")["stats"]
    assert s["index_column"] == "name" and s["parts_indexed"] == 1 and s["rows_selected"] == 400
    r = run("index", f"{path}:/data/t", "create", "name", check=False)
    assert_fails(r, 1, "already has an index")
    run("index", f"{path}:/data/t", "remove", "name")
    assert run("index", f"{path}:/data/t", "list").stdout.strip() == "(no index)"
    r = run("index", f"{path}:/data/t", "drop", "name", check=False)
    assert_fails(r, 2, "unknown index action")
    r = run("repack", f"{path}:/data/t", "--sort-by", "zz", check=False)
    assert_fails(r, 3, "no column 'zz'")


def test_unknown_command_lists_query_commands():
    r = run("frobnicate", check=False)
    assert r.returncode == 2
    for name in ("where", "sql", "repack", "index"):
        assert name in r.stderr


def test_sql_says_changes_are_not_kept(qbundle):
    path, _ = qbundle
    r = run("sql", path, "CREATE TABLE x AS SELECT 1 AS a", check=False)
    assert "CREATE statements run on a temporary in-memory view" in r.stderr and "nothing they change is kept" in r.stderr
    r = run("sql", path, "SELECT 1 AS a")
    assert "not kept" not in r.stderr
