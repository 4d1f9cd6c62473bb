"""Shared tables (octavo.share / attach / shared_data): zero-copy views, workers under fork, spawn
and forkserver, segment lifetime (close, exit, SIGKILL + gc), and bad handles / segments."""
import json
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import octavo
from octavo import shared_data
from octavo.share import collect_stale, list_segments

SHM = "/dev/shm"


def _shm_segments():
    return sorted(n for n in os.listdir(SHM) if n.startswith("octavo-share-")) if os.path.isdir(SHM) else []


@pytest.fixture(autouse=True)
def no_leftovers_in_dev_shm():
    before = _shm_segments()
    yield
    shared_data.clear_shared()
    assert _shm_segments() == before


def frame(n=1000):
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "trace": np.arange(n, dtype=np.int64),
        "cdp": (np.arange(n) // 10).astype(np.int32),
        "offset": rng.standard_normal(n).astype(np.float32),
        "name": [f"t{i}" for i in range(n)],
    })


def in_mapping_of(arr: np.ndarray, path: str) -> bool:
    addr = arr.__array_interface__["data"][0]
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith(path):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo <= addr < hi:
                    return True
    return False


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow", "dict"])
def test_round_trip_each_source(tmp_path, kind):
    df = frame()
    src = {"pandas": df, "polars": pl.from_pandas(df), "arrow": pa.Table.from_pandas(df, preserve_index=False),
           "dict": {c: df[c].to_numpy() for c in ["trace", "cdp", "offset"]}}[kind]
    with octavo.share(src, directory=tmp_path) as shared:
        assert len(shared.handle) < 1024 and shared.num_rows == len(df)
        view = octavo.attach(shared.handle)
        got = view.to_pandas()
        for c in got.columns:
            np.testing.assert_array_equal(got[c].to_numpy(dtype=object if c == "name" else None), df[c].to_numpy())
        assert view.to_polars().shape == got.shape
        assert view.to_arrow().num_rows == len(df)
    assert os.listdir(tmp_path) == []


def test_views_are_zero_copy_and_read_only(tmp_path):
    with octavo.share(frame(), directory=tmp_path) as shared:
        view = octavo.attach(shared)
        off = view.column("offset").to_numpy()
        assert in_mapping_of(off, shared.path)
        assert not off.flags.writeable
        with pytest.raises(ValueError):
            off[0] = 1.0
        pdf = view.to_pandas()
        assert np.shares_memory(pdf["offset"].to_numpy(), off)
        assert in_mapping_of(pdf["trace"].to_numpy(), shared.path)
        arrays = view.arrays(["trace", "cdp"])
        assert all(in_mapping_of(a, shared.path) for a in arrays.values())
        assert in_mapping_of(view.to_polars()["cdp"].to_numpy(), shared.path)
        assert isinstance(pdf["name"].dtype, pd.ArrowDtype)


def test_numpy_views_without_pandas(tmp_path):
    """A worker that only needs numpy does not pay for importing pandas (pyarrow's to_numpy would)."""
    with octavo.share(frame(), directory=tmp_path) as shared:
        code = ("import sys, octavo; v = octavo.attach(sys.argv[1]); a = v.column('offset').to_numpy(); "
                "d = v.arrays(['trace', 'cdp']); print(float(a.sum()), int(d['cdp'].sum()), 'pandas' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code, shared.handle], capture_output=True, text=True, check=True)
        df = frame()
        total, cdp, imported = out.stdout.split()
        assert np.isclose(float(total), float(df["offset"].sum())) and int(cdp) == int(df["cdp"].sum())
        assert imported == "False"


def test_bundle_source_columns_where_and_is_current(tmp_path):
    with octavo.open(tmp_path / "exp.octavo", "a") as b:
        b.add_table("headers", frame())
        b.add_table("other", pd.DataFrame({"x": [1]}))
        t = b["/headers"]
        with octavo.share(t, columns=["trace", "offset"], where="cdp < 5", directory=tmp_path) as shared:
            src = shared.source
            assert src == {"bundle": b.path, "table": "/headers", "commit": b.commit["id"]}
            got = octavo.attach(shared.handle).to_arrow()
            assert got.column_names == ["trace", "offset"]
            assert got.column("trace").to_pylist() == list(range(50))
            assert shared.is_current()
            b.append_table("other", pd.DataFrame({"x": [2]}))  # another table moved on
            assert shared.is_current()
            b.append_table("headers", frame(3))
            assert not shared.is_current()
            # the segment is immutable: workers still see the shared commit
            assert octavo.attach(shared.handle).num_rows == 50


def test_where_needs_a_bundle_table(tmp_path):
    with pytest.raises(octavo.InvalidArgumentError):
        octavo.share(frame(), where="cdp < 3", directory=tmp_path)


def _sum_worker(handle):
    view = octavo.attach(handle)
    a = view.column("offset").to_numpy()
    return float(a.astype(np.float64).sum()), int(view.column("cdp").to_numpy().sum()), os.getpid()


def _shared_data_worker(_):
    arrays = shared_data.get_shared_arrays("headers")
    df = shared_data.get_shared("headers")
    return float(arrays["offset"].astype(np.float64).sum()), int(df["cdp"].sum())


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_workers_attach_and_agree(tmp_path, method):
    df = frame(20_000)
    want = (float(df["offset"].astype(np.float64).sum()), int(df["cdp"].sum()))
    with octavo.share(df, directory=tmp_path) as shared:
        with ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as pool:
            got = list(pool.map(_sum_worker, [shared.handle] * 4))
        assert [g[:2] for g in got] == [want] * 4
        assert all(pid != os.getpid() for _, _, pid in got)
        # the workers' exits do not remove the publisher's segment
        assert os.path.exists(shared.path)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_shared_data_with_pools(tmp_path, method):
    df = frame(5000)
    shared_data.set_shared("headers", df, columns=["cdp", "offset"], directory=tmp_path)
    assert shared_data.shared_memory_usage() > 5000 * 8
    with mp.get_context(method).Pool(2) as pool:
        got = pool.map(_shared_data_worker, range(3))
    assert got == [(float(df["offset"].astype(np.float64).sum()), int(df["cdp"].sum()))] * 3
    shared_data.clear_shared()
    assert os.listdir(tmp_path) == [] and shared_data.shared_memory_usage() == 0
    with pytest.raises(octavo.NotFoundError, match="headers"):
        shared_data.get_shared("headers")


def test_pickled_shared_table_attaches(tmp_path):
    with octavo.share(frame(10), directory=tmp_path) as shared:
        view = pickle.loads(pickle.dumps(shared))
        assert isinstance(view, octavo.AttachedTable) and view.num_rows == 10
        assert pickle.loads(pickle.dumps(view)).num_rows == 10


PUBLISHER = textwrap.dedent("""
    import sys, time, numpy as np, octavo
    s = octavo.share({"x": np.arange(1000)}, directory=sys.argv[1])
    print(s.handle, flush=True)
    if sys.argv[2] == "wait":
        time.sleep(600)
""")


def _publish_in_subprocess(tmp_path, mode):
    p = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(tmp_path), mode], stdout=subprocess.PIPE, text=True)
    handle = p.stdout.readline().strip()
    return p, handle


def test_publisher_exit_removes_its_segment(tmp_path):
    p, handle = _publish_in_subprocess(tmp_path, "exit")
    assert p.wait(60) == 0
    assert os.listdir(tmp_path) == []
    with pytest.raises(octavo.NotFoundError, match="no longer exists"):
        octavo.attach(handle)


def test_killed_publisher_is_collected(tmp_path):
    p, handle = _publish_in_subprocess(tmp_path, "wait")
    assert octavo.attach(handle).num_rows == 1000
    assert list_segments(tmp_path)[0]["owner_alive"]
    assert collect_stale(tmp_path) == []        # alive: kept
    p.send_signal(signal.SIGKILL)
    p.wait(60)
    assert len(os.listdir(tmp_path)) == 1       # a killed publisher leaves it ...
    assert not list_segments(tmp_path)[0]["owner_alive"]
    out = subprocess.run([os.environ.get("OCTAVO_CLI", "octavo"), "share", "--gc", "--dir", str(tmp_path), "--json"],
                         capture_output=True, text=True, check=True)
    assert len(json.loads(out.stdout)["removed"]) == 1   # ... `octavo share --gc` collects it
    assert os.listdir(tmp_path) == []
    with pytest.raises(octavo.NotFoundError):
        octavo.attach(handle)


def test_next_publish_collects_a_killed_publishers_segment(tmp_path):
    p, _ = _publish_in_subprocess(tmp_path, "wait")
    p.send_signal(signal.SIGKILL)
    p.wait(60)
    with octavo.share(frame(5), directory=tmp_path) as shared:
        assert os.listdir(tmp_path) == [os.path.basename(shared.path)]


def _edited(handle, **fields):
    h = json.loads(handle)
    h.update(fields)
    return json.dumps(h)


def test_foreign_and_bad_handles(tmp_path):
    with octavo.share(frame(10), directory=tmp_path) as shared:
        with pytest.raises(octavo.InvalidArgumentError, match="host 'other-node'"):
            octavo.attach(_edited(shared.handle, host="other-node"))
        with pytest.raises(octavo.InvalidArgumentError, match="boot"):
            octavo.attach(_edited(shared.handle, boot_id="x"))
        with pytest.raises(octavo.UnsupportedVersionError):
            octavo.attach(_edited(shared.handle, version=99))
        with pytest.raises(octavo.InvalidArgumentError):
            octavo.attach(_edited(shared.handle, path="/etc/passwd"))
        with pytest.raises(octavo.InvalidArgumentError):
            octavo.attach("{not json")
        with pytest.raises(octavo.InvalidArgumentError):
            octavo.attach(12)


def _rewrite(path, data):
    os.chmod(path, 0o600)
    os.remove(path)
    with open(path, "wb") as f:
        f.write(data)


def test_damaged_segments_are_errors(tmp_path):
    with octavo.share(frame(100), directory=tmp_path) as shared:
        data = open(shared.path, "rb").read()
        for damaged in (data[: len(data) // 2], data[:-1], data[:100] + bytes([data[100] ^ 1]) + data[101:], data):
            _rewrite(shared.path, damaged)
            with pytest.raises(octavo.CorruptionError, match="modified after publishing"):
                octavo.attach(shared.handle)
        # written in place (same inode): the modification time gives it away
        os.chmod(shared.path, 0o600)
        with open(shared.path, "r+b") as f:
            f.seek(len(data) // 2)
            f.write(b"\xff")
        with pytest.raises(octavo.CorruptionError):
            octavo.attach(shared.handle)


def test_full_verification_and_populate_on_request(tmp_path):
    with octavo.share(frame(100), directory=tmp_path) as shared:
        assert octavo.attach(shared.handle, verify=True).num_rows == 100
        view = octavo.attach(shared.handle, populate=True)
        assert view.to_pandas()["trace"].tolist() == list(range(100))
