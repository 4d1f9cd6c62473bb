"""`octavo migrate` and fileio.migrate_h5_to_parquet (both the C++ code in src/hdf5/migrate.cc):
pandas HDF5 files -> verified Parquet files beside them, in parallel, idempotent."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tables as tb

import octavo
from octavo import fileio

OCTAVO = shutil.which("octavo")


def dlc(n=40, seed=0):
    cols = pd.MultiIndex.from_product([["DLC_resnet50"], ["nose", "ear", "tail"], ["x", "y", "likelihood"]],
                                      names=["scorer", "bodyparts", "coords"])
    df = pd.DataFrame(np.random.default_rng(seed).random((n, 9)), columns=cols)
    df.iloc[3, 2] = np.nan
    return df


def make_tree(root, corrupt=True):
    (root / "sub").mkdir(parents=True, exist_ok=True)
    frames = {"a.h5": dlc(seed=1), "sub/b.h5": dlc(seed=2), "sub/c.hdf5": dlc(seed=3)}
    for i, (name, df) in enumerate(frames.items()):
        df.to_hdf(root / name, key="df_with_missing", format="table" if i % 2 == 0 else "fixed", mode="w")
    if corrupt:
        good = (root / "a.h5").read_bytes()
        (root / "sub" / "broken.h5").write_bytes(good[: len(good) // 3])
    return {name: pd.read_hdf(root / name) for name in frames}


def run(*args):
    return subprocess.run([OCTAVO, *map(str, args)], capture_output=True, text=True)


def test_cli_one_corrupt_file_never_stops_the_others(tmp_path):
    refs = make_tree(tmp_path)
    r = run("migrate", tmp_path, "--recursive", "--jobs", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED" in r.stdout and "broken.h5" in r.stdout
    assert "4 HDF5 files: 3 converted, 0 skipped (already done), 1 failed" in r.stdout
    assert "broken.h5" in r.stderr and "[4/4]" in r.stderr  # progress
    for name, ref in refs.items():
        out = (tmp_path / name).with_suffix(".parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(out), ref)
        assert (tmp_path / name).exists()  # no --remove-h5
    assert not (tmp_path / "sub" / "broken.parquet").exists()
    assert not [p for p in tmp_path.rglob("*") if "octavo-tmp" in p.name]


def test_cli_dry_run_writes_nothing(tmp_path):
    make_tree(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    r = run("--json", "migrate", tmp_path, "-r", "--dry-run", "--remove-h5")
    doc = json.loads(r.stdout)
    assert doc["planned"] == 3 and doc["failed"] == 1 and doc["converted"] == 0
    planned = {os.path.basename(f["file"]): f["outputs"] for f in doc["files"] if f["status"] == "planned"}
    assert planned["c.hdf5"] == [str(tmp_path / "sub" / "c.parquet")]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_cli_remove_h5_only_after_verification(tmp_path):
    refs = make_tree(tmp_path)
    r = run("migrate", tmp_path, "-r", "--remove-h5", "-q")
    assert r.returncode == 1 and r.stderr == ""
    for name, ref in refs.items():
        assert not (tmp_path / name).exists()
        pd.testing.assert_frame_equal(pd.read_parquet((tmp_path / name).with_suffix(".parquet")), ref)
    assert (tmp_path / "sub" / "broken.h5").exists()


def test_idempotent_second_run_skips(tmp_path):
    make_tree(tmp_path, corrupt=False)
    r1 = run("--json", "migrate", tmp_path, "-r")
    assert json.loads(r1.stdout)["converted"] == 3
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
    r2 = run("--json", "migrate", tmp_path, "-r")
    doc = json.loads(r2.stdout)
    assert r2.returncode == 0 and doc["skipped"] == 3 and doc["converted"] == 0
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")} == mtimes
    # a changed source is converted again
    time.sleep(0.01)
    dlc(seed=9).to_hdf(tmp_path / "a.h5", key="df_with_missing", format="table", mode="w")
    doc = json.loads(run("--json", "migrate", tmp_path, "-r").stdout)
    assert doc["converted"] == 1 and doc["skipped"] == 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), dlc(seed=9))
    # a Parquet file octavo did not verify (no stamp) is not trusted
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "sub" / "b.parquet")
    doc = json.loads(run("--json", "migrate", tmp_path, "-r").stdout)
    assert doc["converted"] == 1
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sub" / "b.parquet"), dlc(seed=2))


def test_several_keys_and_non_pandas_objects(tmp_path):
    p = tmp_path / "multi.h5"
    dlc(seed=1).to_hdf(p, key="first", format="table", mode="w")
    dlc(seed=2).to_hdf(p, key="grp/second", format="fixed", mode="a")
    rep = fileio.migrate_h5_to_parquet(tmp_path)
    assert rep["converted"] == [str(p)], rep
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "multi.first.parquet"), dlc(seed=1))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "multi.grp.second.parquet"), dlc(seed=2))
    assert fileio.parquet_path_for(p, "/grp/second", 2) == tmp_path / "multi.grp.second.parquet"
    pd.testing.assert_frame_equal(fileio.read_dataframe(p, "grp/second"), dlc(seed=2))
    # a file with objects Parquet cannot hold fails and is kept
    q = tmp_path / "mixed.h5"
    dlc().to_hdf(q, key="df", format="table", mode="w")
    with tb.open_file(q, "a") as f:
        f.create_array("/", "raw", np.arange(3))
    rep = fileio.migrate_h5_to_parquet(q, remove_h5=True)
    assert "/raw" in rep["failed"][str(q)] and "bundle" in rep["failed"][str(q)]
    assert q.exists() and not (tmp_path / "mixed.parquet").exists()


def test_python_jobs_and_verification_metadata(tmp_path):
    refs = make_tree(tmp_path)
    rep = fileio.migrate_h5_to_parquet(tmp_path, jobs=2, remove_h5=True)
    assert len(rep["converted"]) == 3 and list(rep["failed"]) == [str(tmp_path / "sub" / "broken.h5")]
    assert "truncated" in rep["failed"][str(tmp_path / "sub" / "broken.h5")] or "HDF5" in rep["failed"][
        str(tmp_path / "sub" / "broken.h5")]
    meta = pq.read_schema(tmp_path / "a.parquet").metadata
    stamp = json.loads(meta[b"octavo.migrated_from"])
    assert stamp["file"] == "a.h5" and stamp["key"] == "/df_with_missing" and stamp["verified"]
    assert b"octavo.h5" not in meta  # internal source note stripped
    for name, ref in refs.items():
        pd.testing.assert_frame_equal(fileio.read_dataframe(tmp_path / name), ref)
    again = fileio.migrate_h5_to_parquet(tmp_path, jobs=2)
    assert again["converted"] == [] and again["skipped"] == []  # the .h5 files are gone


def test_migrate_into_bundle(tmp_path):
    refs = make_tree(tmp_path / "data", corrupt=True)
    r = run("--json", "migrate", tmp_path / "data", "-r", "--into", tmp_path / "all.octavo", "-q")
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["converted"] == 3 and doc["failed"] == 1
    with octavo.open(tmp_path / "all.octavo") as b:
        got = b.get_table("/sub/b/df_with_missing", return_type="pandas")
        pd.testing.assert_frame_equal(got, refs["sub/b.h5"])
        assert "broken" not in b["/sub"]
    doc = json.loads(run("--json", "migrate", tmp_path / "data", "-r", "--into", tmp_path / "all.octavo").stdout)
    assert doc["skipped"] == 3


# A stand-in for octavo-h5worker: runs the real worker and passes its protocol through
# (migrate.cc, MigrateWorkerMain), but is killed when handed a file whose path contains
# CRASH_ON, as a worker crashing inside libhdf5 on that file would be.
CRASHING_PROXY = """#!{python}
import os, signal, struct, subprocess, sys
r, w = os.pipe()
def to_fd3():
    os.dup2(w, 3)
child = subprocess.Popen([{real!r}, *sys.argv[1:]], stdin=subprocess.PIPE, pass_fds=(3, w), preexec_fn=to_fd3)
os.close(w)
out = os.fdopen(r, "rb")
def read(n):
    b = b""
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c:
            return None
        b += c
    return b
for line in out:
    if line.startswith(b'{{"t":"next"}}'):
        os.write(3, line)
        head = read(12)
        if head is None:
            child.stdin.close()
            continue
        task, n = struct.unpack("<QI", head)
        path = read(n)
        if {crash_on!r}.encode() in path:
            # the real worker finishes what it holds (so it leaves no temp files), then this
            # "worker" starts the file and dies
            child.stdin.close()
            for rest in out:
                if not rest.startswith(b'{{"t":"next"}}'):
                    os.write(3, rest)
            child.wait()
            os.write(3, b'{{"t":"start","i":%d}}\\n' % (task & ~(1 << 63)))
            os.kill(os.getpid(), signal.SIGABRT)
        child.stdin.write(head + path)
        child.stdin.flush()
    else:
        os.write(3, line)
child.wait()
"""


def crashing_worker(tmp_path, crash_on):
    real = os.path.join(os.path.dirname(OCTAVO), "octavo-h5worker")
    stub = tmp_path.parent / (tmp_path.name + "-worker")
    stub.write_text(CRASHING_PROXY.format(python=sys.executable, real=real, crash_on=crash_on))
    stub.chmod(0o755)
    return stub


def test_cli_worker_processes_survive_a_crashing_worker(tmp_path):
    # --jobs 2 runs worker processes; one that dies (here: a stand-in worker killed when it
    # is handed f3.h5) fails only the file it was converting, a replacement takes the rest
    refs = {}
    for i in range(8):
        refs[f"f{i}.h5"] = dlc(seed=i)
        refs[f"f{i}.h5"].to_hdf(tmp_path / f"f{i}.h5", key="df_with_missing", format="table", mode="w")
    worker = crashing_worker(tmp_path, "f3.h5")
    r = subprocess.run([OCTAVO, "--json", "--h5-worker", worker, "migrate", tmp_path, "--jobs", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["converted"] == 7 and doc["failed"] == 1, doc
    bad = [f for f in doc["files"] if f["status"] == "failed"]
    assert os.path.basename(bad[0]["file"]) == "f3.h5"
    assert "worker process" in bad[0]["message"] and "signal" in bad[0]["message"], bad[0]["message"]
    assert "[8/8]" in r.stderr
    assert not (tmp_path / "f3.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if "octavo-tmp" in p.name]
    for name, ref in refs.items():
        if name != "f3.h5":
            pd.testing.assert_frame_equal(pd.read_parquet((tmp_path / name).with_suffix(".parquet")), ref)
    # per-file timing of converted files (where the time went)
    ok = [f for f in doc["files"] if f["status"] == "converted"]
    assert all(set(f["timing"]) == {"read", "write", "verify", "sync"} for f in ok)
    # the rerun converts just the missing file
    doc = json.loads(run("--json", "migrate", tmp_path, "--jobs", "2").stdout)
    assert doc["converted"] == 1 and doc["skipped"] == 7


def test_cli_jobs_match_serial_results(tmp_path):
    make_tree(tmp_path)
    one = json.loads(run("--json", "migrate", tmp_path, "-r", "--jobs", "1", "--dry-run").stdout)
    r = run("--json", "migrate", tmp_path, "-r", "--jobs", "3")
    many = json.loads(r.stdout)
    assert [f["file"] for f in many["files"]] == [f["file"] for f in one["files"]]  # input order kept
    assert (many["converted"], many["failed"]) == (3, 1)
    broken = [f for f in many["files"] if f["status"] == "failed"][0]
    assert "broken.h5" in broken["file"] and "worker" not in broken["message"]  # a normal, clean failure


def test_worker_processes_read_whole_files_into_memory(tmp_path):
    # --jobs 2: workers read each small file whole (O_DIRECT) and HDF5 parses it from memory;
    # a file with a user block (the HDF5 signature at byte 512), a truncated file and a
    # non-HDF5 file must behave exactly as on the file path (--jobs 1)
    h5py = pytest.importorskip("h5py")
    ref = dlc(n=3000, seed=7)
    ub = tmp_path / "userblock.h5"
    h5py.File(ub, "w", userblock_size=512).close()
    ref.to_hdf(ub, key="df_with_missing", format="table", mode="a")
    assert open(ub, "rb").read(4) != b"\x89HDF"
    for i in range(3):
        ref.to_hdf(tmp_path / f"plain{i}.h5", key="df_with_missing", format="table", mode="w")
    (tmp_path / "truncated.h5").write_bytes((tmp_path / "plain0.h5").read_bytes()[:100_000])
    (tmp_path / "junk.h5").write_bytes(os.urandom(5000))
    docs = {}
    for jobs in ("1", "2"):
        for p in tmp_path.glob("*.parquet"):
            p.unlink()
        r = subprocess.run([OCTAVO, "--json", "migrate", tmp_path, "--jobs", jobs, "-q"], capture_output=True, text=True)
        docs[jobs] = json.loads(r.stdout)
        assert r.returncode == 1 and docs[jobs]["converted"] == 4 and docs[jobs]["failed"] == 2, docs[jobs]
        for name in ("userblock", "plain0", "plain1", "plain2"):
            pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), ref)
        msgs = {os.path.basename(f["file"]): f["message"] for f in docs[jobs]["files"] if f["status"] == "failed"}
        assert "truncated file" in msgs["truncated.h5"] and "not an HDF5 file" in msgs["junk.h5"], msgs
    assert [f.get("message") for f in docs["1"]["files"]] == [f.get("message") for f in docs["2"]["files"]]


# A byte damaged between the Parquet writer and the disk is caught by the read-back
# comparison: tests/cpp/test_hdf5_import.cc (Hdf5Migrate.VerificationCatchesAByteDamaged...),
# through a fault-injection Env in the converting process.


def test_every_dtype_round_trips_through_verification(tmp_path):
    # fast (fixed-width, no nulls: decoded and memcmp'ed) and Arrow-level (strings, bools,
    # categoricals, nulls, small ints) comparisons, over several row groups (128 Ki rows each)
    n = 300_000
    rng = np.random.default_rng(5)
    df = pd.DataFrame({
        "f64": rng.random(n), "f32": rng.random(n).astype("float32"),
        "i64": rng.integers(-2**40, 2**40, n), "i32": rng.integers(-2**30, 2**30, n).astype("int32"),
        "u32": rng.integers(0, 2**32 - 1, n, dtype="uint32"), "u64": rng.integers(0, 2**62, n, dtype="uint64"),
        "i8": rng.integers(-100, 100, n).astype("int8"), "b": rng.random(n) > 0.5,
        "t": pd.date_range("2020-01-01", periods=n, freq="s"),
        "s": np.array(["a", "bé", "c"])[rng.integers(0, 3, n)],
        "cat": pd.Categorical(np.array(["x", "y"])[rng.integers(0, 2, n)]),
    })
    df.loc[7, "f64"] = np.nan
    df.to_hdf(tmp_path / "mixed.h5", key="df", format="table", mode="w", data_columns=["s"])
    r = run("--json", "migrate", tmp_path, "--jobs", "2")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["converted"] == 1, r.stdout + r.stderr
    assert pq.ParquetFile(tmp_path / "mixed.parquet").num_row_groups == 3
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "mixed.parquet"), pd.read_hdf(tmp_path / "mixed.h5"))


@pytest.mark.parametrize("buffered", ["0", "1"])
def test_direct_and_buffered_writes_give_the_same_files(tmp_path, buffered):
    # default: O_DIRECT output (small files staged, verified from the staged bytes, written by
    # the finisher; large ones streamed and read back with O_DIRECT); --buffered-io:
    # buffered writes read back through the page cache. Both verified, both the same data.
    small, big = dlc(n=100, seed=1), dlc(n=200_000, seed=2)  # big: more than the 8 MiB stage
    small.to_hdf(tmp_path / "small.h5", key="df_with_missing", format="table", mode="w")
    big.to_hdf(tmp_path / "big.h5", key="df_with_missing", format="table", mode="w")
    io = ["--buffered-io"] if buffered == "1" else []
    r = subprocess.run([OCTAVO, "--json", "migrate", tmp_path, "--compression", "none", *io], capture_output=True,
                       text=True)
    assert json.loads(r.stdout)["converted"] == 2, r.stdout
    assert (tmp_path / "big.parquet").stat().st_size > 8 << 20
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "small.parquet"), small)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "big.parquet"), big)
    assert not [p for p in tmp_path.iterdir() if "octavo-tmp" in p.name]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_surrogate_escaped_strings_never_lose_the_source(tmp_path, jobs):
    # os.fsdecode of non-UTF-8 bytes gives lone surrogates; pandas writes and reads them fine,
    # but as Parquet strings they are invalid UTF-8 that polars and DuckDB reject
    name = os.fsdecode(b"img_\xff.png")
    names = [name, "ok.png", "b.png"]
    df = pd.DataFrame({"path": pd.Series(names, dtype=object), "x": [1.0, 2.0, 3.0]})
    # (pandas pickles object values, keeping surrogates; it refuses them in indexes and tables)
    src = tmp_path / "s.h5"
    df.to_hdf(src, key="df", format="fixed", mode="w")
    before = src.read_bytes()
    r = run("migrate", src, "--remove-h5", "--jobs", jobs)
    out = src.with_suffix(".parquet")
    if src.exists():
        assert r.returncode == 1 and "s.h5" in r.stdout + r.stderr
        assert "UTF-8" in r.stdout + r.stderr
        assert not out.exists()
        assert src.read_bytes() == before
    else:  # converted: the output must be valid for independent readers
        import duckdb
        import polars as pl
        pl.read_parquet(out)
        duckdb.sql(f"select * from read_parquet('{out}')").fetchall()


def test_remove_h5_rechecks_an_earlier_output_before_deleting(tmp_path):
    # an output an earlier version wrote (stamp matches the source) holding invalid UTF-8:
    # the skip path must not delete the source on the strength of the stamp alone
    import pyarrow as pa
    src = tmp_path / "s.h5"
    df = pd.DataFrame({"path": pd.Series(["a.png", "b.png"], dtype=object), "x": [1.0, 2.0]})
    df.to_hdf(src, key="df", format="fixed", mode="w")
    assert run("migrate", src).returncode == 0
    out = src.with_suffix(".parquet")
    t = pq.read_table(out)
    i = t.schema.get_field_index("path")
    bad = pa.array([b"img_\xed\xb3\xbf.png", b"b.png"], pa.binary()).view(pa.string())
    t = t.set_column(i, pa.field("path", pa.string()), bad)
    pq.write_table(t, out)
    r = run("migrate", src, "--remove-h5")
    import polars as pl
    if src.exists():
        assert r.returncode == 1
    else:
        assert pl.read_parquet(out)["path"].to_list() == ["a.png", "b.png"]
