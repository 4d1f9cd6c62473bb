"""The `octavo` command-line tool, run as a subprocess against bundles written from Python.

The binary is $OCTAVO_CLI if set, else `octavo` on PATH (installed by scripts/setup.sh).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import octavo

CLI = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")
pytestmark = pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built / not on PATH")

NROWS = 1000


def run(*args, check: bool = True, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert r.returncode >= 0, f"octavo died from signal {-r.returncode}: {r.stderr}"
    if check:
        assert r.returncode == 0, f"octavo {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}"
    return r


def run_json(*args):
    return json.loads(run(*args, "--json").stdout)


def assert_fails(r: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("octavo: error: "), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def sample_df(n: int = NROWS) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "x": rng.random(n),
        "name": [f"row {i}" for i in range(n)],
        "flag": np.arange(n) % 3 == 0,
    })
    for i in range(8):
        df[f"c{i}"] = np.arange(n, dtype=np.int32) * i
    return df


@pytest.fixture
def sample(tmp_path):
    path = str(tmp_path / "sample.octavo")
    b = octavo.open(path, "a")
    b.add_table("t", sample_df())
    b.create_group("/g")
    b["/t"].attrs["units"] = "m"
    b["/g"].attrs["meta"] = {"run": 7, "tags": ["a", "b"]}
    b.add_table("/g/small", pd.DataFrame({"a": [1, 2, 3], "s": ["x", None, "z"], "f": [1.5, np.nan, -2.0]}))
    b.close()
    return path


# --- version / usage -------------------------------------------------------------------------

def test_version():
    r = run("--version")
    assert octavo.__version__ in r.stdout


def test_help_and_usage_errors(tmp_path):
    assert "tree" in run("--help").stdout
    assert_fails(run(check=False), 2)
    assert_fails(run("frobnicate", check=False), 2, "frobnicate")
    assert_fails(run("head", check=False), 2)
    assert_fails(run("head", "x", "--bogus-option", check=False), 2)


# --- tree --------------------------------------------------------------------------------------

def test_tree_text(sample):
    b = octavo.open(sample)
    out = run("tree", sample).stdout
    lines = out.splitlines()
    assert f"commit {b.commit['id']}" in lines[0] and b.commit["created_at"] in lines[0]
    assert "/ (group)" in out
    assert "  /g (group)" in out
    assert "    /g/small (table) 3 rows" in out
    t_line = next(ln for ln in lines if ln.startswith("  /t (table)"))
    assert "1,000 rows" in t_line and "12 columns" in t_line and "1 part" in t_line
    assert any(u in t_line for u in ("KiB", "MiB", " B "))
    assert "columns: id: int64, x: double" in out and "(+6 more)" in out
    assert '.units = "m"' in out
    assert '.meta = {"run":7,"tags":["a","b"]}' in out
    # attributes sit under their node
    assert lines.index('    .units = "m"') > lines.index(t_line)


def test_tree_json(sample):
    for args in (("tree", sample, "--json"), ("--json", "tree", sample)):
        nodes = json.loads(run(*args).stdout)
        assert isinstance(nodes, list)
        by_path = {n["path"]: n for n in nodes}
        assert set(by_path) == {"/", "/g", "/g/small", "/t"}
        assert by_path["/"]["kind"] == "group" and by_path["/"]["num_children"] == 2
        t = by_path["/t"]
        assert t["kind"] == "table" and t["num_rows"] == NROWS and t["num_columns"] == 12
        assert t["attrs"] == {"units": "m"}
        assert t["column_names"][:3] == ["id", "x", "name"] and t["column_types"][0] == "int64"
        assert t["num_parts"] == 1 and t["size_bytes"] > 0
        assert by_path["/g"]["attrs"] == {"meta": {"run": 7, "tags": ["a", "b"]}}


def test_tree_subtree(sample):
    out = run("tree", f"{sample}:/g").stdout
    assert "/g (group)" in out and "/g/small" in out and "/t (table)" not in out
    nodes = run_json("tree", f"{sample}:g")
    assert [n["path"] for n in nodes] == ["/g", "/g/small"]


def test_tree_while_a_writer_holds_the_lock(sample):
    with octavo.open(sample, "a"):
        assert "/t (table)" in run("tree", sample).stdout


# --- info --------------------------------------------------------------------------------------

def test_info_table(sample):
    b = octavo.open(sample)
    out = run("info", f"{sample}:/t").stdout
    assert "rows:        1,000" in out
    assert "compression=zstd" in out and "row_group_size=" in out
    assert "  id: int64\n" in out and "  name: " in out
    for p in b.get_table_path("t"):
        assert p in out
    j = run_json("info", f"{sample}:t")
    info = b.table_info("t")
    assert j["path"] == "/t" and j["kind"] == "table"
    assert j["num_rows"] == NROWS and j["num_columns"] == 12
    assert j["size_bytes"] == info["size_bytes"] and j["num_parts"] == info["num_parts"]
    assert j["part_files"] == b.get_table_path("t")
    assert [c["name"] for c in j["schema"]] == list(sample_df().columns)
    assert j["options"]["compression"] == "zstd" and j["options"]["row_group_size"] > 0
    assert j["attrs"] == {"units": "m"}
    assert j["created_at"] and j["modified_at"] and j["commit"]["id"] == b.commit["id"]


def test_info_group(sample):
    out = run("info", f"{sample}:/g").stdout
    assert "kind:        group" in out and "children:    1" in out and "small (table)" in out
    assert '.meta = {"run":7,"tags":["a","b"]}' in out
    j = run_json("info", f"{sample}:/g")
    assert j["kind"] == "group" and j["num_children"] == 1
    assert j["children"] == [{"path": "/g/small", "name": "small", "kind": "table"}]
    assert j["attrs"]["meta"]["tags"] == ["a", "b"]
    root = run_json("info", sample)
    assert root["path"] == "/" and root["num_children"] == 2


# --- head --------------------------------------------------------------------------------------

def test_head_text(sample):
    out = run("head", f"{sample}:/t", "-n", 5).stdout
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["id", "x", "name", "flag"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + 5 + 1
    assert lines[2].split()[0] == "0" and "row 0" in lines[2] and "true" in lines[2]
    assert lines[-1] == "(first 5 of 1,000 rows)"
    # columns are aligned: every row is as wide as the header rule or narrower
    assert all(len(ln) <= len(lines[1]) for ln in lines[2:-1])


def test_head_columns_and_nulls(sample):
    out = run("head", f"{sample}:/g/small", "--columns", "s,a").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["s", "a"]
    assert lines[3].split() == ["null", "2"]
    assert lines[-1] == "(3 rows)"


def test_head_json(sample):
    df = sample_df()
    records = run_json("head", f"{sample}:/t", "-n", 4, "--columns", "id,x,name,flag")
    assert records == df.head(4)[["id", "x", "name", "flag"]].to_dict("records")
    small = run_json("head", f"{sample}:/g/small")
    assert small == [{"a": 1, "s": "x", "f": 1.5}, {"a": 2, "s": None, "f": None}, {"a": 3, "s": "z", "f": -2.0}]
    assert run_json("head", f"{sample}:/t", "-n", 0) == []


def test_head_many_types(tmp_path):
    import datetime
    import decimal

    path = str(tmp_path / "types.octavo")
    table = pa.table({
        "l": pa.array([[1, 2], [], None]),
        "st": pa.array([{"a": 1, "b": "x"}, None, {"a": 2, "b": "y\nz"}]),
        "d": pa.array(["p", "q", "p"]).dictionary_encode(),
        "ts": pa.array([0, 1_000_000, None], pa.timestamp("us", tz="UTC")),
        "day": pa.array([datetime.date(2024, 1, 2), None, datetime.date(2024, 3, 4)]),
        "dec": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.10")], pa.decimal128(10, 2)),
        "bin": pa.array([b"\x00\xff", b"ab", None]),
        "m": pa.array([[("k", 1)], [], None], pa.map_(pa.string(), pa.int64())),
        "u": ["héllo", "wörld " * 20, ""],
        "u64": pa.array([2**64 - 1, 0, None], pa.uint64()),
        "f16": pa.array([np.float16(1.5), None, np.float16(-2)], pa.float16()),
    })
    with octavo.open(path, "a") as b:
        b.add_table("types", table)
    out = run("head", f"{path}:/types").stdout
    assert "[1,2]" in out and '{"a":1,"b":"x"}' in out and "1.25" in out and "\\x00\\xff" in out
    assert "2024-01-02" in out and "héllo" in out and "..." in out  # long cell truncated
    assert "\n" not in out.splitlines()[2]
    rec = run_json("head", f"{path}:/types")
    assert rec[0]["l"] == [1, 2] and rec[2]["l"] is None
    assert rec[0]["st"] == {"a": 1, "b": "x"} and rec[1]["st"] is None
    assert rec[0]["d"] == "p" and rec[0]["dec"] == "1.25" and rec[2]["dec"] == "-3.10"
    assert rec[0]["m"] == [{"key": "k", "value": 1}]
    assert rec[0]["u64"] == 2**64 - 1 and rec[0]["f16"] == 1.5 and rec[1]["f16"] is None
    assert rec[0]["day"] == "2024-01-02" and rec[2]["ts"] is None


# --- import ------------------------------------------------------------------------------------

def source_table(n: int = 5000) -> pa.Table:
    return pa.table({
        "id": pa.array(range(n), pa.int64()),
        "value": pa.array([i * 0.25 for i in range(n)], pa.float64()),
        "label": pa.array([f"label {i % 17}" if i % 11 else None for i in range(n)], pa.string()),
        "ok": pa.array([i % 2 == 0 for i in range(n)]),
    })


def read_back(bundle_path: str, node: str) -> pa.Table:
    return octavo.open(bundle_path).get_table(node, return_type="arrow")


def test_import_csv(tmp_path):
    src = tmp_path / "data.csv"
    pacsv.write_csv(source_table(), src)
    bundle = str(tmp_path / "new.octavo")  # created by the import
    r = run("import", src, f"{bundle}:/imported/csv")
    assert "5,000 rows" in r.stdout
    # the source table itself: empty cells are nulls (pandas' NA values; pyarrow.csv.read_csv
    # reads an empty string cell as ""), types decided over every row (docs/import.md)
    expected = source_table()
    got = read_back(bundle, "/imported/csv")
    assert got.schema.types == expected.schema.types
    assert got.num_rows == expected.num_rows
    assert got.column_names == expected.column_names
    assert got.to_pydict() == expected.to_pydict()
    # BUNDLE alone: the table is named after the file
    j = run_json("import", src, bundle)
    assert j["path"] == "/data" and j["rows"] == 5000 and j["created"] is True
    assert read_back(bundle, "/data").to_pydict() == expected.to_pydict()


def test_import_tsv_and_gzip(tmp_path):
    import gzip

    src = tmp_path / "data.tsv.gz"
    with gzip.open(src, "wb") as f:
        f.write(b"a\tb\n1\tx\n2\ty\n")
    bundle = str(tmp_path / "b.octavo")
    run("import", src, f"{bundle}:/t")
    assert read_back(bundle, "/t").to_pydict() == {"a": [1, 2], "b": ["x", "y"]}


def test_import_parquet_and_append(tmp_path):
    src = tmp_path / "data.parquet"
    table = source_table(200_000)
    pq.write_table(table, src, row_group_size=30_000)
    bundle = str(tmp_path / "b.octavo")
    j = run_json("import", src, f"{bundle}:/p")
    assert j["rows"] == 200_000 and j["num_rows"] == 200_000
    got = read_back(bundle, "/p")
    assert got.to_pydict() == table.to_pydict()
    assert got.schema.types == table.schema.types

    # a second import without --append is refused, with --append adds the rows
    assert_fails(run("import", src, f"{bundle}:/p", check=False), 1, "/p", "--append")
    r = run("import", src, f"{bundle}:/p", "--append")
    assert "appended 200,000 rows" in r.stdout and "400,000" in r.stdout
    got = read_back(bundle, "/p")
    assert got.num_rows == 400_000
    assert got.slice(200_000).to_pydict() == table.to_pydict()
    assert octavo.open(bundle)["/p"].num_rows == 400_000


def test_import_errors(tmp_path, sample):
    src = tmp_path / "data.csv"
    pacsv.write_csv(source_table(10), src)
    assert_fails(run("import", tmp_path / "missing.csv", f"{sample}:/x", check=False), 3, "missing.csv")
    assert_fails(run("import", tmp_path / "data.xlsx", f"{sample}:/x", check=False), 2, "data.xlsx")
    assert_fails(run("import", src, f"{sample}:/g", check=False), 4, "/g")
    # appending data of another schema is a schema error and changes nothing
    assert_fails(run("import", src, f"{sample}:/t", "--append", check=False), 4, "/t")
    assert octavo.open(sample)["/t"].num_rows == NROWS
    # not a Parquet file
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet")
    assert_fails(run("import", bad, f"{sample}:/bad", check=False), 1, "bad.parquet")
    assert "/bad" not in octavo.open(sample)


def test_import_while_another_writer_has_the_bundle_open(tmp_path, sample):
    src = tmp_path / "data.csv"
    pacsv.write_csv(source_table(10), src)
    with octavo.open(sample, "a") as b:
        run("import", src, f"{sample}:/new")  # writers share a bundle
        b.refresh()
        assert b["/new"].num_rows == 10
    # only an exclusive holder (gc) keeps a writer out: exit code 6, naming the holder
    import fcntl
    with open(os.path.join(sample, "LOCK"), "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write("the gc of this test")
        f.flush()
        assert_fails(run("import", src, f"{sample}:/new2", check=False), 6, "the gc of this test")


# --- export ------------------------------------------------------------------------------------

def test_export_parquet(tmp_path, sample):
    out = tmp_path / "out.parquet"
    r = run("export", f"{sample}:/t", out)
    assert "1,000 rows" in r.stdout
    expected = read_back(sample, "/t")
    got = pq.read_table(out)
    assert got.to_pydict() == expected.to_pydict()
    assert got.schema.types == expected.schema.types
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"

    out2 = tmp_path / "cols.parquet"
    j = run_json("export", f"{sample}:/t", out2, "--columns", "name,id")
    assert j["rows"] == NROWS and j["columns"] == ["name", "id"]
    assert pq.read_table(out2).to_pydict() == expected.select(["name", "id"]).to_pydict()


def test_export_csv(tmp_path, sample):
    out = tmp_path / "out.csv"
    run("export", f"{sample}:/t", out)
    expected = read_back(sample, "/t")
    got = pacsv.read_csv(out)
    assert got.column_names == expected.column_names
    df_got, df_exp = got.to_pandas(), expected.to_pandas()
    pd.testing.assert_frame_equal(df_got, df_exp, check_dtype=False)

    out2 = tmp_path / "small.csv"
    run("export", f"{sample}:/g/small", out2, "--columns", "s,a")
    assert out2.read_text().splitlines() == ['"s","a"', '"x",1', ",2", '"z",3']


def test_export_roundtrip_through_import(tmp_path, sample):
    out = tmp_path / "t.parquet"
    run("export", f"{sample}:/t", out)
    other = str(tmp_path / "other.octavo")
    run("import", out, f"{other}:/t")
    assert read_back(other, "/t").to_pydict() == read_back(sample, "/t").to_pydict()


def test_export_errors(tmp_path, sample):
    assert_fails(run("export", f"{sample}:/t", tmp_path / "out.xlsx", check=False), 2, "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()
    assert_fails(run("export", f"{sample}:/g", tmp_path / "g.csv", check=False), 4, "/g")
    assert_fails(run("export", f"{sample}:/nope", tmp_path / "n.csv", check=False), 3, "/nope")
    assert_fails(run("export", f"{sample}:/t", tmp_path / "x.csv", "--columns", "id,zzz", check=False), 3, "zzz")
    # nested columns cannot go to CSV
    path = str(tmp_path / "nested.octavo")
    with octavo.open(path, "a") as b:
        b.add_table("n", pa.table({"l": pa.array([[1], [2, 3]])}))
    assert_fails(run("export", f"{path}:/n", tmp_path / "n.csv", check=False), 4, "'l'")
    assert not (tmp_path / "n.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if "octavo-tmp" in p.name] == []


# --- errors ------------------------------------------------------------------------------------

def test_missing_bundle(tmp_path):
    missing = str(tmp_path / "missing.octavo")
    for args in (("tree", missing), ("info", f"{missing}:/t"), ("head", f"{missing}:/t"),
                 ("export", f"{missing}:/t", tmp_path / "o.csv")):
        assert_fails(run(*args, check=False), 3, missing)
    assert not os.path.exists(missing)
    afile = tmp_path / "plain.txt"
    afile.write_text("hello")
    assert_fails(run("tree", afile, check=False), 3, "plain.txt")


def test_missing_node(sample):
    for cmd in ("info", "head"):
        assert_fails(run(cmd, f"{sample}:/nope", check=False), 3, "/nope")
    assert_fails(run("tree", f"{sample}:/g/nope", check=False), 3, "/g/nope")


def test_head_on_a_group(sample):
    assert_fails(run("head", f"{sample}:/g", check=False), 4, "/g", "group")
    assert_fails(run("head", sample, check=False), 4, "'/'")


def test_bad_arguments(sample):
    assert_fails(run("head", f"{sample}:/t", "-n", "-3", check=False), 2, "-n")
    assert_fails(run("head", f"{sample}:/t", "-n", "many", check=False), 2)
    assert_fails(run("head", f"{sample}:/a/../t", check=False), 1, "..")
    assert_fails(run("head", ":/t", check=False), 2)


def test_corrupt_part_file(tmp_path, sample):
    b = octavo.open(sample)
    part = b.get_table_path("t")[0]
    b.close()
    with open(part, "r+b") as f:
        f.truncate(os.path.getsize(part) // 2)
    # the manifest is intact: tree and info still work
    assert "/t (table)" in run("tree", sample).stdout
    assert run_json("info", f"{sample}:/t")["num_rows"] == NROWS
    # reading rows reports the damaged file
    assert_fails(run("head", f"{sample}:/t", check=False), 5, part)
    assert_fails(run("head", f"{sample}:/t", "--json", check=False), 5, part)
    out = tmp_path / "out.parquet"
    assert_fails(run("export", f"{sample}:/t", out, check=False), 5, part)
    assert not out.exists()
    # other tables are unaffected
    assert len(run_json("head", f"{sample}:/g/small")) == 3


def test_garbled_part_file(tmp_path, sample):
    b = octavo.open(sample)
    part = b.get_table_path("t")[0]
    b.close()
    data = bytearray(open(part, "rb").read())
    for i in range(4, min(len(data) - 8, 4000)):
        data[i] = (data[i] * 7 + 13) & 0xFF
    open(part, "wb").write(bytes(data))  # same size, garbage inside
    for args in (("head", f"{sample}:/t"), ("export", f"{sample}:/t", tmp_path / "o.csv")):
        r = run(*args, check=False)
        assert r.returncode in (1, 5), r.stderr
        assert r.stderr.startswith("octavo: error: ") and "/t" in r.stderr
    assert not (tmp_path / "o.csv").exists()
