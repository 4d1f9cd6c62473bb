"""SQLite import (C++, src/sqlite/): bundle.import_sqlite and `octavo import a.db ...`,
compared with what pandas.read_sql_query reads, and every bad input leaving the bundle as
it was."""
import json
import os
import shutil
import sqlite3
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import octavo
from octavo.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    LockedError,
    NotFoundError,
    OctavoError,
)

OCTAVO = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")

SCHEMA = ("CREATE TABLE gpu (timestamp TEXT, host TEXT, slot TEXT, gpu_id TEXT, state TEXT, user TEXT, "
          "priority BOOLEAN, shared BOOLEAN, backfill BOOLEAN, device TEXT, load REAL)")


def make_db(path, first, n, seed=0):
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(path)
    con.execute(SCHEMA)
    base = pd.Timestamp("2025-11-01")
    rows = []
    for i in range(first, first + n):
        ts = (base + pd.Timedelta(minutes=15 * i)).strftime("%Y-%m-%d %H:%M:%S")
        rows.append((ts, f"host{i % 13}", f"slot{i % 4}", f"GPU-{i % 50:04d}", "Claimed" if i % 3 else "Unclaimed",
                     None if i % 5 == 0 else f"user{i % 7}", int(i % 2), int(i % 3 == 0), int(i % 4 == 0),
                     "NVIDIA A100" if i % 2 else "NVIDIA H100", None if i % 6 == 0 else float(rng.random())))
    con.executemany("INSERT INTO gpu VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    return str(path)


def read_sql(path, sql="SELECT * FROM gpu"):
    con = sqlite3.connect(path)
    try:
        return pd.read_sql_query(sql, con)
    finally:
        con.close()


def test_import_matches_pandas_read_sql(tmp_path, bundle):
    dbs = [make_db(tmp_path / f"m{k}.db", 100 * k, 100, k) for k in range(3)]
    rep = bundle.import_sqlite(dbs, "/gpu", table="gpu")
    assert rep["rows"] == 300 and len(rep["tables"]) == 1 and rep["tables"][0]["created"]
    got = bundle.get_table("/gpu", return_type="pandas")
    want = pd.concat([read_sql(p) for p in dbs], ignore_index=True)
    want["timestamp"] = pd.to_datetime(want["timestamp"])
    for c in ("priority", "shared", "backfill"):
        want[c] = want[c].astype(bool)
    assert str(got["timestamp"].dtype).startswith("datetime64")
    got["timestamp"] = got["timestamp"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["priority"].dtype == bool
    # DuckDB over the imported table
    n = bundle.sql("SELECT count(DISTINCT gpu_id) AS n FROM gpu", return_type="pandas")["n"][0]
    assert n == want["gpu_id"].nunique()


def test_all_tables_and_query(tmp_path, bundle):
    db = str(tmp_path / "x.sqlite")
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE a (x INTEGER, y TEXT); INSERT INTO a VALUES (1,'p'),(2,NULL);"
                      "CREATE TABLE b (z REAL); INSERT INTO b VALUES (0.5);")
    con.close()
    c0 = bundle.commit["id"]
    rep = bundle.import_sqlite(db, "/x")
    assert sorted(t["path"] for t in rep["tables"]) == ["/x/a", "/x/b"]
    assert bundle.commit["id"] == c0 + 1
    assert bundle.get_table("/x/a", return_type="arrow").column("y").to_pylist() == ["p", None]
    bundle.import_sqlite(db, "/q", query="SELECT x * 10 AS x10 FROM a")
    assert bundle.get_table("/q", return_type="arrow").column("x10").to_pylist() == [10, 20]


def test_null_first_batch_and_mixed_column(tmp_path, bundle):
    db = str(tmp_path / "m.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (late, mixed)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(None, i) for i in range(1000)] + [("text", "abc")])
    con.commit()
    con.close()
    rep = bundle.import_sqlite(db, "/t", table="t", batch_rows=100)
    t = bundle.get_table("/t", return_type="arrow")
    assert t.schema.field("late").type == pa.string()
    assert t.column("late").null_count == 1000
    assert t.schema.field("mixed").type == pa.string()
    assert t.column("mixed").to_pylist()[:2] == ["0", "1"]
    assert any("mixed" in n and "row 1001" in n for n in rep["notes"]), rep["notes"]


def test_since_and_reimport(tmp_path, bundle):
    db = make_db(tmp_path / "live.db", 0, 40)
    bundle.import_sqlite(db, "/gpu", table="gpu")
    with pytest.raises(AlreadyExistsError, match="--append"):
        bundle.import_sqlite(db, "/gpu", table="gpu")
    with pytest.raises(AlreadyExistsError, match="already holds"):
        bundle.import_sqlite(db, "/gpu", table="gpu", append=True)
    # the collector appends 10 rows
    con = sqlite3.connect(db)
    extra = make_db(tmp_path / "extra.db", 40, 10)
    con.execute("ATTACH ? AS e", (extra,))
    con.execute("INSERT INTO gpu SELECT * FROM e.gpu")
    con.commit()
    con.close()
    rep = bundle.import_sqlite(db, "/gpu", table="gpu", append=True, since="timestamp")
    assert rep["rows"] == 10 and rep["tables"][0]["skipped"] == 40
    assert bundle.table("/gpu").num_rows == 50
    srcs = bundle["/gpu"].attrs["sqlite_sources"]
    assert srcs[0]["rows"] == 50 and srcs[0]["file"] == os.path.realpath(db)


def test_source_never_modified(tmp_path, bundle):
    db = make_db(tmp_path / "ro.db", 0, 50)
    before = open(db, "rb").read()
    os.chmod(db, 0o444)
    bundle.import_sqlite(db, "/gpu", table="gpu")
    assert open(db, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["ro.db", "test.octavo"]


@pytest.mark.parametrize("case", ["not_db", "missing_table", "bad_query", "write_query", "bad_utf8", "missing",
                                  "truncated"])
def test_bad_input_commits_nothing(tmp_path, bundle, case):
    good = make_db(tmp_path / "good.db", 0, 300)
    kw = {"table": "gpu"}
    files = [good]
    if case == "not_db":
        bad = tmp_path / "bad.db"
        bad.write_bytes(b"hello, not a database" * 100)
        files, exc, words = [good, str(bad)], InvalidArgumentError, "bad.db: not a SQLite database"
    elif case == "missing_table":
        kw, exc, words = {"table": "nope"}, NotFoundError, "no table 'nope'"
    elif case == "bad_query":
        kw, exc, words = {"query": "SELECT FROM"}, InvalidArgumentError, "good.db query"
    elif case == "write_query":
        kw, exc, words = {"query": "UPDATE gpu SET host = 'x'"}, InvalidArgumentError, "read-only"
    elif case == "bad_utf8":
        con = sqlite3.connect(good)
        con.execute("INSERT INTO gpu (host) VALUES (CAST(x'41ff42' AS TEXT))")
        con.commit()
        con.close()
        exc, words = InvalidArgumentError, "row 301 column 'host'"
    elif case == "missing":
        files, exc, words = [good, str(tmp_path / "nope.db")], NotFoundError, "nope.db"
    else:
        data = open(good, "rb").read()
        trunc = tmp_path / "trunc.db"
        trunc.write_bytes(data[: len(data) // 2])
        files, exc, words = [good, str(trunc)], OctavoError, "trunc.db"
    c0 = bundle.commit["id"]
    with pytest.raises(exc, match=words.replace("(", r"\(")):
        bundle.import_sqlite(files, "/gpu", **kw)
    assert bundle.commit["id"] == c0
    assert "/gpu" not in bundle


def test_locked_database(tmp_path, bundle):
    db = make_db(tmp_path / "busy.db", 0, 20)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LockedError, match="busy.db.*locked"):
            bundle.import_sqlite(db, "/gpu", table="gpu")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "/gpu" not in bundle


def test_flipped_bytes_never_crash(tmp_path, bundle):
    good = make_db(tmp_path / "good.db", 0, 2000)
    data = bytearray(open(good, "rb").read())
    rng = np.random.default_rng(1)
    errors = 0
    for i in range(40):
        d = bytearray(data)
        for pos in rng.integers(100, len(d), 6):
            d[pos] ^= int(rng.integers(1, 256))
        p = tmp_path / f"f{i}.db"
        p.write_bytes(bytes(d))
        c0 = bundle.commit["id"]
        try:
            bundle.import_sqlite(str(p), "/gpu", table="gpu")
            bundle.remove_node("/gpu")
        except OctavoError as e:
            errors += 1
            assert f"f{i}.db" in str(e)
            assert bundle.commit["id"] == c0
    assert errors > 0


def test_cli_import_several_databases(tmp_path):
    dbs = [make_db(tmp_path / f"gpu_2025-{m}.db", 100 * m, 50, m) for m in (9, 10, 11)]
    b = str(tmp_path / "b.octavo")
    r = subprocess.run([OCTAVO, "import", *dbs, f"{b}:/gpu", "--table", "gpu", "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows"] == 150 and out["tables"][0]["path"] == "/gpu"
    # again without --since: refused, saying so
    r = subprocess.run([OCTAVO, "import", dbs[0], f"{b}:/gpu", "--table", "gpu", "--append"], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "already holds" in r.stderr and "--since" in r.stderr
    r = subprocess.run([OCTAVO, "import", dbs[0], f"{b}:/gpu", "--table", "gpu", "--append", "--since", "timestamp"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "appended 0 rows" in r.stdout
    # all tables of a database under a group; a query
    r = subprocess.run([OCTAVO, "import", dbs[1], f"{b}:/all"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([OCTAVO, "import", dbs[2], f"{b}:/claimed", "--query",
                        "SELECT host, count(*) AS n FROM gpu WHERE state = 'Claimed' GROUP BY host"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with octavo.open(b) as bb:
        assert bb.table("/all/gpu").num_rows == 50
        assert bb.get_table("/claimed", return_type="arrow").column("n").to_pylist()
    # a non-database named .db: exit code and message name the file
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"x" * 1000)
    r = subprocess.run([OCTAVO, "import", str(bad), f"{b}:/junk", "--table", "t"], capture_output=True, text=True)
    assert r.returncode != 0 and "junk.db: not a SQLite database" in r.stderr
    # several files that are neither SQLite databases nor CSV files: a usage error (several CSV
    # files import together since CSV import moved into the engine: tests/python/test_csv_import.py)
    pq = tmp_path / "a.parquet"
    pq.write_text("x\n1\n")
    r = subprocess.run([OCTAVO, "import", str(pq), str(pq), f"{b}:/c"], capture_output=True, text=True)
    assert r.returncode == 2 and "SQLite" in r.stderr
