"""The one thread pool: octavo.set_num_threads / get_num_threads, OCTAVO_NUM_THREADS, the CLI's
--threads, identical results at every pool size, and no threads started per call."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

import octavo

CLI = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")


@pytest.fixture(autouse=True)
def restore_threads():
    saved = octavo.get_num_threads()
    yield
    octavo.set_num_threads(saved)


def test_set_and_get():
    octavo.set_num_threads(3)
    assert octavo.get_num_threads() == 3
    assert pa.cpu_count() == 3  # one pool: Arrow's own parallel paths follow it
    octavo.set_num_threads(np.int64(1))
    assert octavo.get_num_threads() == 1
    pa.set_cpu_count(2)  # and the other way round
    assert octavo.get_num_threads() == 2
    assert 1 <= octavo.available_cpus() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("bad", [0, -1, -(2**40), 1025, 2**70])
def test_set_rejects_out_of_range(bad):
    octavo.set_num_threads(2)
    with pytest.raises(octavo.InvalidArgumentError, match=f"from 1 to 1024, got {bad}"):
        octavo.set_num_threads(bad)
    assert octavo.get_num_threads() == 2


@pytest.mark.parametrize("bad", [1.5, True, "2", None])
def test_set_rejects_non_integers(bad):
    with pytest.raises(octavo.InvalidArgumentError, match="must be an integer"):
        octavo.set_num_threads(bad)


def run_python(code: str, env_value):
    env = dict(os.environ)
    env.pop("OCTAVO_NUM_THREADS", None)
    if env_value is not None:
        env["OCTAVO_NUM_THREADS"] = env_value
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("value,want", [(None, "default"), ("", "default"), ("3", "3"), (" 5 ", "5"),
                                        ("1", "1"), ("1024", "1024")])
def test_env_var_sets_the_default(value, want):
    r = run_python("""
        import octavo, pyarrow
        print(octavo.get_num_threads(), octavo.available_cpus(), pyarrow.cpu_count())
    """, value)
    assert r.returncode == 0, r.stderr
    n, cpus, arrow = map(int, r.stdout.split())
    assert n == arrow == (cpus if want == "default" else int(want))


@pytest.mark.parametrize("value", ["0", "-2", "abc", "4x", "2.5", "1025", "99999999999999999999"])
def test_env_var_unusable_is_a_clear_error(value, tmp_path):
    # An unusable value is an error wherever the pool is first needed (never a silent default),
    # and set_num_threads replaces it.
    r = run_python(f"""
        import octavo
        for call in (octavo.get_num_threads, lambda: octavo.open({str(tmp_path / 'b')!r}, "w")):
            try:
                call()
                print("no error")
            except octavo.InvalidArgumentError as e:
                print("error:", e)
        octavo.set_num_threads(2)
        print(octavo.get_num_threads())
        octavo.open({str(tmp_path / 'b')!r}, "w").close()
    """, value)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for line in lines[:2]:
        assert line.startswith(f"error: OCTAVO_NUM_THREADS='{value}' is not a number of threads from 1 to 1024"), line
        assert "unset it" in line
    assert lines[2] == "2"


@pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built / not on PATH")
def test_cli_threads_option(tmp_path):
    path = str(tmp_path / "b")
    with octavo.open(path, "w") as b:
        b.create_table("/t", data=pa.table({"x": np.arange(50_000) % 97, "y": np.arange(50_000)}),
                       row_group_size=1000)
    outs = set()
    for args in (["--threads", "1"], ["--threads", "3"], []):
        r = subprocess.run([CLI, *args, "where", f"{path}:/t", "x == 5", "--csv"], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.add(r.stdout)
    assert len(outs) == 1
    # after the sub-command too
    r = subprocess.run([CLI, "where", f"{path}:/t", "x == 5", "--csv", "--threads", "2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout in outs, r.stderr
    for bad in ("0", "-3", "2000"):
        r = subprocess.run([CLI, "--threads", bad, "tree", path], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0
        assert f"--threads: the number of threads must be from 1 to 1024, got {bad}" in r.stderr, r.stderr
    # `octavo sql` runs DuckDB in Python: it gets the same thread count
    for n in ("1", "3"):
        r = subprocess.run([CLI, "--threads", n, "sql", path, "SELECT current_setting('threads') AS t", "--csv"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ['"t"', n]
    env = dict(os.environ, OCTAVO_NUM_THREADS="lots")
    r = subprocess.run([CLI, "tree", path], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode != 0 and "OCTAVO_NUM_THREADS='lots'" in r.stderr, r.stderr
    r = subprocess.run([CLI, "--threads", "2", "tree", path], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr  # --threads replaces the environment variable


@pytest.fixture
def bundle(tmp_path):
    rng = np.random.default_rng(7)
    n = 60_000
    b = octavo.open(str(tmp_path / "b"), "w")
    data = pa.table({"id": np.arange(n), "x": rng.normal(size=n), "k": rng.integers(0, 50, n),
                     "s": pa.array([f"w{i % 301}" for i in range(n)])})
    b.create_table("/t", data=data.slice(0, 25_000), row_group_size=1500)
    t = b["/t"]
    t.append(data.slice(25_000))
    t.create_index("k")
    b.create_array("/a", data=np.arange(40 * 30 * 20, dtype=np.float32).reshape(40, 30, 20), chunks=(8, 7, 6))
    yield b
    b.close()


def everything(b):
    t, a = b["/t"], b["/a"]
    out = [t.read(return_type="arrow"), t.read(columns=["x", "s"], return_type="arrow"),
           t.read(1234, 50_001, return_type="arrow")]
    for idx in (True, False):
        for cond in ("(x > 0.5) & (k < 30)", "k IN (3, 7, 49)", "s IN ('w1', 'w300')", "x > 100", "id >= 0"):
            out.append(t.read_where(cond, return_type="arrow", use_index=idx))
            out.append(t.get_where_list(cond, use_index=idx).tolist())
        out.append(pa.concat_tables(t.where("k == 4", chunk_size=1000, return_type="arrow", use_index=idx)))
    out.append(a[:].tobytes())
    out.append(a[3:37:2, 1:29, 2:19:3].tobytes())
    return out


def test_same_results_for_every_thread_count(bundle):
    octavo.set_num_threads(1)
    want = everything(bundle)
    for n in (2, 3, 8):
        octavo.set_num_threads(n)
        got = everything(bundle)
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g == w, (n, i)


def test_array_writes_same_for_every_thread_count(tmp_path):
    data = np.random.default_rng(1).normal(size=(30, 40, 50))
    seen = []
    for n in (1, 2, 3, 8):
        octavo.set_num_threads(n)
        with octavo.open(str(tmp_path / f"b{n}"), "w") as b:
            v = b.create_array("/v", data=data, chunks=(7, 9, 11))
            v[5:25, :, 10:40] = data[5:25, :, 10:40] * 2
            seen.append(v[:].tobytes())
    assert all(s == seen[0] for s in seen)


def threads_now():
    return len(os.listdir("/proc/self/task"))


def test_calls_start_no_threads(bundle):
    # One thread in each pool, so that they hold all their threads after the first calls
    # (a pool starts threads lazily, up to its size); the C++ test fills bigger pools.
    io = pa.io_thread_count()
    octavo.set_num_threads(1)
    pa.set_io_thread_count(1)
    try:
        for _ in range(2):
            everything(bundle)
        before = threads_now()
        for _ in range(10):
            everything(bundle)
        t = bundle["/t"]
        its = [iter(t.where("x > -10", chunk_size=100)) for _ in range(20)]
        for it in its:
            next(it)  # each scanner is running
        assert threads_now() == before
        del its
    finally:
        pa.set_io_thread_count(io)


def test_sql_runs_duckdb_on_the_same_thread_count(bundle):
    from octavo import query

    for n in (1, 3):
        octavo.set_num_threads(n)
        con = query.connect(bundle)
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == n
        con.close()


def test_pool_resized_by_pyarrow_before_octavo_is_kept():
    r = run_python("""
        import pyarrow
        pyarrow.set_cpu_count(7)
        import octavo
        print(octavo.get_num_threads())
    """, None)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["7"]
    r = run_python("""
        import pyarrow
        pyarrow.set_cpu_count(7)
        import octavo
        print(octavo.get_num_threads())
    """, "3")
    assert r.stdout.split() == ["3"], r.stderr  # OCTAVO_NUM_THREADS wins
