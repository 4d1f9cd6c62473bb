"""progress=None|True|False on long operations (issue 20): the engine reports each step
through one callback; None shows progress only on a terminal, so captured output stays clean."""
import sqlite3
import sys

import numpy as np
import pandas as pd
import pytest

import octavo
from octavo import _octavo, fileio
from octavo.errors import InvalidArgumentError


def test_off_by_default_when_not_a_terminal(tmp_path, capsys):
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        b.create_table("/t", data=pd.DataFrame({"x": np.arange(1000)[::-1]}))
        b.table("/t").sort_by("x")
        b.gc()
    assert capsys.readouterr().err == ""


def test_plain_lines_without_tqdm(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        b.create_table("/t", data=pd.DataFrame({"x": np.arange(5000)[::-1]}))
        b.table("/t").sort_by("x", progress=True)
    err = capsys.readouterr().err
    assert "sort /t" in err and "5000/5000 rows" in err


@pytest.mark.parametrize("run_rows", [None, 1000])
def test_sort_reports_every_row(tmp_path, run_rows):
    seen = []
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        b.create_table("/t", data=pd.DataFrame({"x": np.arange(5000)[::-1]}))
        t = b.table("/t")
        t._native.repack(["x"], 0, run_rows or 0, progress=lambda d, n, item: seen.append((d, n, item)))
        assert t.read()["x"].tolist() == list(range(5000))
    total = 5000 if run_rows is None else 10000  # a spilled sort passes the rows twice
    assert seen[-1][:2] == (total, total)
    assert all(n == total and item == "/t" for _, n, item in seen)
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


def test_gc_sqlite_and_migrate_report_steps(tmp_path):
    steps = []
    db = tmp_path / "a.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE a (x INTEGER)")
        c.execute("CREATE TABLE b (y REAL)")
        c.executemany("INSERT INTO a VALUES (?)", [(i,) for i in range(10)])
        c.executemany("INSERT INTO b VALUES (?)", [(i / 2,) for i in range(10)])
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        _octavo.sqlite_import(b._native, [str(db)], "/db", progress=lambda d, n, i: steps.append(("sql", d, n, i)))
        b._native.collect_garbage(-1, True, progress=lambda d, n, i: steps.append(("gc", d, n, i)))
    assert [s for s in steps if s[0] == "sql"] == [("sql", 1, 2, "/db/a"), ("sql", 2, 2, "/db/b")]
    gc_steps = [s for s in steps if s[0] == "gc"]
    assert gc_steps and gc_steps[-1][1] == gc_steps[-1][2] == len(gc_steps)

    for i in range(3):
        pd.DataFrame({"v": np.arange(10) + i}).to_hdf(tmp_path / f"m{i}.h5", key="df", format="table", mode="w")
    got = []
    files = _octavo.h5_find_files(str(tmp_path), False)
    _octavo.h5_migrate(files, jobs=2, progress=lambda d, n, i: got.append((d, n, i)))
    assert sorted(d for d, _, _ in got) == [1, 2, 3] and {n for _, n, _ in got} == {3}
    assert {i for _, _, i in got} == set(files)


def test_callback_errors_never_break_the_operation(tmp_path, monkeypatch):
    def boom(done, total, item):
        raise RuntimeError("callback failed")

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u.exc_value))
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        b.create_table("/t", data=pd.DataFrame({"x": np.arange(100)[::-1]}))
        b.table("/t")._native.repack(["x"], 0, 0, progress=boom)
        assert b.table("/t").read()["x"].tolist() == list(range(100))
    assert reported and all(isinstance(e, RuntimeError) for e in reported)


def test_public_arguments(tmp_path, capsys):
    pd.DataFrame({"v": np.arange(10)}).to_hdf(tmp_path / "m.h5", key="df", format="table", mode="w")
    r = fileio.migrate_h5_to_parquet(tmp_path, progress=True)
    assert int(r) == 1
    assert "migrate" in capsys.readouterr().err
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        fileio.import_h5(b, tmp_path / "m.h5", "/imp", progress=False)
        objs = []
        _octavo.h5_import(b._native, str(tmp_path / "m.h5"), "/imp2", progress=lambda d, n, i: objs.append((d, n, i)))
        assert objs and objs[-1][0] == len(objs) and all(n == 0 for _, n, _ in objs)
        b.gc(progress=False)
        with pytest.raises(InvalidArgumentError, match="progress"):
            b.gc(progress="yes")
    assert capsys.readouterr().err == ""


def test_create_index_and_append_report_rows(tmp_path):
    """create_index reports rows indexed once per part, append the rows written, both against the total."""
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        b.create_table("/t", data=pd.DataFrame({"x": np.arange(3000)}))
        t = b.table("/t")
        t.append(pd.DataFrame({"x": np.arange(2000)}))  # a second part
        seen = []
        t._native.create_index("x", progress=lambda d, n, item: seen.append((d, n, item)))
        assert [d for d, _, _ in seen] == [3000, 5000] and all(n == 5000 for _, n, _ in seen)
        assert all(item.endswith(".parquet") for _, _, item in seen)
        assert t.get_where_list("x == 2500").tolist() == [2500]

        rows = []
        data = pd.DataFrame({"x": np.arange(200_000)})
        stream, _ = octavo.convert.to_arrow_stream(data)
        t._native.append(stream.__arrow_c_stream__(), progress=lambda d, n, item: rows.append((d, n, item)),
                         expected_rows=len(data))
        assert rows and rows[-1][:2] == (200_000, 200_000) and all(i == "/t" for _, _, i in rows)
        assert [d for d, _, _ in rows] == sorted(d for d, _, _ in rows)
        assert t.num_rows == 205_000


def test_public_append_and_index_progress(tmp_path, capsys, monkeypatch):
    import octavo.progress as progress_module

    monkeypatch.setattr(progress_module.sys.stderr, "isatty", lambda: True, raising=False)
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        t = b.create_table("/t", data=pd.DataFrame({"x": np.arange(10)}))
        t.append(pd.DataFrame({"x": np.arange(10)}))  # small append on a "terminal": no bar
        assert capsys.readouterr().err == ""
        t.append(pd.DataFrame({"x": np.arange(10)}), progress=True)
        assert "append /t" in capsys.readouterr().err
        t.create_index("x", progress=True)
        assert "index /t.x" in capsys.readouterr().err
        t.append(pd.DataFrame({"x": np.arange(10)}), progress=False)
        with pytest.raises(InvalidArgumentError, match="progress"):
            t.append(pd.DataFrame({"x": np.arange(10)}), progress=1)
        assert t.num_rows == 40
    assert capsys.readouterr().err == ""
