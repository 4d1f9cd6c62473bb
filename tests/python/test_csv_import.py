"""CSV import (C++, src/csv/ with the inference shared with SQLite import, src/infer/):
bundle.import_csv and `octavo import a.csv ...`, compared with pandas.read_csv where the rules
agree, and every bad input an error naming where, with nothing committed."""
import gzip
import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import octavo
from octavo import _octavo
from octavo.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, SchemaError

OCTAVO = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")


def write(path, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return str(path)


def sample_frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "x": rng.random(n),
        "name": [f"n{i % 17}" for i in range(n)],
        "ok": np.arange(n) % 3 == 0,
        "ts": pd.date_range("2025-11-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M:%S"),
    })


def test_matches_pandas_read_csv(tmp_path, bundle):
    df = sample_frame()
    p1, p2 = str(tmp_path / "a.csv"), str(tmp_path / "b.csv.gz")
    df.iloc[:1500].to_csv(p1, index=False)
    df.iloc[1500:].to_csv(p2, index=False, compression="gzip")
    commits = bundle.commit["id"]
    rep = bundle.import_csv([p1, p2], "/t", block_size=4096)
    assert rep["rows"] == 3000 and rep["created"] and rep["notes"] == []
    assert bundle.commit["id"] == commits + 1
    got = bundle.get_table("/t", return_type="pandas")
    want = pd.concat([pd.read_csv(p1), pd.read_csv(p2)], ignore_index=True)
    for c in ("id", "x", "name", "ok"):
        assert got[c].tolist() == want[c].tolist(), c
        assert got[c].dtype == want[c].dtype, (c, got[c].dtype, want[c].dtype)
    # date-times: timestamps (pandas needs parse_dates)
    assert str(got["ts"].dtype).startswith("datetime64")
    assert (got["ts"] == pd.to_datetime(want["ts"])).all()


def test_late_text_and_late_values_beyond_the_first_block(tmp_path, bundle):
    rows = ["code,late"] + [f"{i % 10}," for i in range(5000)] + ["x7,42"]
    p = write(tmp_path / "a.csv", "\n".join(rows) + "\n")
    rep = bundle.import_csv(p, "/t", block_size=1024)
    t = bundle.get_table("/t", return_type="arrow")
    assert str(t.schema.field("code").type) == "string"
    assert str(t.schema.field("late").type) == "int64"
    assert t.column("late").null_count == 5000 and t.column("late")[5000].as_py() == 42
    assert t.column("code")[5000].as_py() == "x7" and t.column("code")[3].as_py() == "3"
    assert len(rep["notes"]) == 1 and "column 'code'" in rep["notes"][0] and "row 5001" in rep["notes"][0]
    # pandas agrees on the values (as text: object) and on the late integers (as float, with NaN)
    want = pd.read_csv(p, dtype={"code": str})
    assert t.column("code").to_pylist() == want["code"].tolist()


def test_timestamps_booleans_and_null_tokens(tmp_path, bundle):
    p = write(tmp_path / "a.csv",
              "naive,zoned,mixed,flag,bits,s\n"
              "2025-11-01 10:00:00,2025-11-01T10:00:00Z,2025-11-01 10:00,True,0,NA\n"
              "2025-11-01 11:00:00.5,2025-11-01T12:00:00+02:00,2025-11-01T10:00Z,false,1,x\n"
              "NULL,,,,,None\n")
    rep = bundle.import_csv(p, "/t")
    t = bundle.get_table("/t", return_type="arrow")
    types = {f.name: str(f.type) for f in t.schema}
    assert types == {"naive": "timestamp[us]", "zoned": "timestamp[us, tz=UTC]", "mixed": "string",
                     "flag": "bool", "bits": "int64", "s": "string"}
    assert t.column("zoned").to_pylist()[1] == pd.Timestamp("2025-11-01T10:00:00Z").to_pydatetime()
    assert t.column("s").to_pylist() == [None, "x", None]
    assert any("column 'mixed'" in n for n in rep["notes"])
    # pandas reads the same nulls and booleans
    want = pd.read_csv(p)
    assert t.column("flag").to_pylist() == [True, False, None]
    assert want["flag"].tolist()[:2] == [True, False] and pd.isna(want["flag"][2])
    assert [pd.isna(v) for v in want["s"]] == [True, False, True]
    assert set(_octavo.csv_default_null_values()) == {"", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "-NaN",
                                                      "-nan", "None", "<NA>", "#N/A", "#N/A N/A", "#NA", "1.#IND",
                                                      "-1.#IND", "1.#QNAN", "-1.#QNAN"}
    # own tokens and keep_text_timestamps
    p2 = write(tmp_path / "b.csv", "ts;s\n2025-11-01 10:00;NA\n2025-11-01 11:00;-\n")
    bundle.import_csv(p2, "/t2", delimiter=";", null_values=["-"], keep_text_timestamps=True)
    t2 = bundle.get_table("/t2", return_type="arrow")
    assert str(t2.schema.field("ts").type) == "string"
    assert t2.column("s").to_pylist() == ["NA", None]


def test_append_converts_or_commits_nothing(tmp_path, bundle):
    bundle.add_table("/t", pd.DataFrame({"n": np.array([1], np.int32), "s": ["a"], "f": [0.5]}))
    p = write(tmp_path / "a.csv", "n,s,f\n2,10,3\n")
    with pytest.raises(AlreadyExistsError):
        bundle.import_csv(p, "/t")
    rep = bundle.import_csv(p, "/t", append=True)
    assert rep["rows"] == 1 and not rep["created"]
    t = bundle.get_table("/t", return_type="arrow")
    assert str(t.schema.field("n").type) == "int32"
    assert t.to_pydict() == {"n": [1, 2], "s": ["a", "10"], "f": [0.5, 3.0]}
    commits = bundle.commit["id"]
    bad = write(tmp_path / "bad.csv", "n,s,f\n" + "3,a,1\n" * 400 + "4.5,b,1\n")
    with pytest.raises(SchemaError, match=r"bad\.csv row 401 column 'n': value '4\.5' is not exactly an int64"):
        bundle.import_csv(bad, "/t", append=True, block_size=1024)
    assert bundle.commit["id"] == commits and bundle["/t"].num_rows == 2


def test_bad_inputs(tmp_path, bundle):
    commits = bundle.commit["id"]
    with pytest.raises(InvalidArgumentError, match=r"u\.csv row 2 column 'b'.*UTF-8"):
        bundle.import_csv(write(tmp_path / "u.csv", b"a,b\n1,x\n2,\xff\n"), "/t")
    with pytest.raises(InvalidArgumentError, match=r"rag\.csv.*line 4.*Expected 2 columns, got 3"):
        bundle.import_csv(write(tmp_path / "rag.csv", "a,b\n1,2\n3,4\n5,6,7\n"), "/t")
    with pytest.raises(InvalidArgumentError, match=r"e\.csv.*empty"):
        bundle.import_csv(write(tmp_path / "e.csv", ""), "/t")
    with pytest.raises(NotFoundError, match="missing.csv"):
        bundle.import_csv([write(tmp_path / "ok.csv", "a\n1\n"), str(tmp_path / "missing.csv")], "/t")
    with pytest.raises(SchemaError, match="c.csv"):
        bundle.import_csv([str(tmp_path / "ok.csv"), write(tmp_path / "c.csv", "b\n1\n")], "/t")
    with pytest.raises(InvalidArgumentError, match="delimiter"):
        bundle.import_csv(str(tmp_path / "ok.csv"), "/t", delimiter=";;")
    assert "/t" not in bundle and bundle.commit["id"] == commits


def test_progress_per_file(tmp_path, bundle):
    files = [write(tmp_path / f"p{k}.csv", f"a\n{k}\n") for k in range(3)]
    seen = []
    _octavo.csv_import(bundle._native, files, "/t", progress=lambda done, total, item: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    bundle.import_csv(files, "/t2", progress=True)  # a bar on stderr (tqdm, or text)
    assert bundle["/t2"].num_rows == 3


@pytest.mark.skipif(OCTAVO is None, reason="the octavo CLI is not built / not on PATH")
def test_cli_several_files_null_values_and_notes(tmp_path):
    p1 = write(tmp_path / "a.csv", "k,v\n1,x\n")
    p2 = write(tmp_path / "b.csv", "k,v\n2,-\n")
    b = str(tmp_path / "b.octavo")
    r = subprocess.run([OCTAVO, "import", p1, p2, f"{b}:/t", "--null-value", "-", "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["rows"] == 2 and j["files"] == [p1, p2] and j["format"] == "csv"
    assert octavo.open(b).get_table("/t", return_type="arrow").to_pydict() == {"k": [1, 2], "v": ["x", None]}
    p3 = write(tmp_path / "c.csv", "k,v\nz,1\n")
    r = subprocess.run([OCTAVO, "import", p3, f"{b}:/t", "--append"], capture_output=True, text=True)
    assert r.returncode == 4 and "c.csv row 1 column 'k': value 'z'" in r.stderr, r.stderr
    p4 = write(tmp_path / "d.csv", "k\n1\nz\n")
    r = subprocess.run([OCTAVO, "import", p4, f"{b}:/u"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "imported 2 rows from" in r.stdout and "note: table /u column 'k'" in r.stdout, r.stdout
