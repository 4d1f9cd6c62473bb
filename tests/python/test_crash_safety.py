"""A writer killed at random moments never costs a committed row, and corrupt files give clear errors."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pytest

import octavo

WRITER = r"""
import sys, numpy as np, pyarrow as pa, octavo
path, batch = sys.argv[1], int(sys.argv[2])
b = octavo.open(path, "a")
t = b["/log"] if "/log" in b else b.create_table("/log", data=pa.schema([("seq", pa.int64()), ("v", pa.float64())]))
n = t.num_rows
while True:
    seq = np.arange(n, n + batch)
    t.append(pa.table({"seq": seq, "v": seq * 0.25}))
    n += batch
    b.root.attrs["rows"] = n          # a second commit kind in the mix
    print(n, flush=True)              # reported only after both commits returned
"""


def check_consistent(path, min_rows, batch):
    with octavo.open(path, "r") as b:
        t = b["/log"]
        rows = t.num_rows
        assert rows >= min_rows, f"lost committed rows: {rows} < {min_rows}"
        assert rows % batch == 0, "a partial append became visible"
        got = t.read(return_type="arrow")
        assert got.column("seq").to_pylist() == list(range(rows))
        assert got.column("v").to_pylist() == [i * 0.25 for i in range(rows)]
        return rows


def test_kill_writer_at_random_moments(tmp_path):
    path = str(tmp_path / "crash.octavo")
    rng = random.Random(1234)
    batch = 500
    committed = 0
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, path, str(batch)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.3, 1.2))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        reported = [int(x) for x in out.split()]
        if reported:
            committed = max(committed, reported[-1])
        if os.path.exists(os.path.join(path, "OCTAVO")):
            rows = check_consistent(path, committed, batch)
            committed = max(committed, rows)
    assert committed > 0, "the writer never got to commit; the test proved nothing"
    # the lock died with the killed process: a new writer gets in
    with octavo.open(path, "a") as b:
        b["/log"].append(pa.table({"seq": np.arange(committed, committed + batch), "v": np.arange(committed, committed + batch) * 0.25}))
    check_consistent(path, committed + batch, batch)


@pytest.fixture
def filled(bundle_path):
    with octavo.open(bundle_path, "a") as b:
        b.create_table("/t", data=pa.table({"x": np.arange(10_000)}), part_max_rows=4000)
        commit = b.commit["id"]
        paths = b.get_table_path("/t")
    return bundle_path, commit, paths


def test_truncated_part_is_reported_and_bundle_keeps_other_data(filled):
    path, commit, parts = filled
    with open(parts[1], "r+b") as f:
        f.truncate(os.path.getsize(parts[1]) // 2)
    with octavo.open(path, "r") as b:
        assert b.commit["id"] == commit
        t = b["/t"]
        assert t.read(0, 4000, return_type="arrow").num_rows == 4000  # untouched part still reads
        with pytest.raises(octavo.CorruptionError) as e:
            t.read(return_type="arrow")
        msg = str(e.value)
        assert parts[1] in msg and "/t" in msg and "truncated" in msg


def test_garbage_part_same_size(filled):
    path, _, parts = filled
    size = os.path.getsize(parts[0])
    with open(parts[0], "r+b") as f:
        f.write(os.urandom(size))
    with octavo.open(path, "r") as b:
        with pytest.raises(octavo.CorruptionError, match=parts[0]):
            b["/t"].read(return_type="arrow")


def test_corrupt_manifest_and_current(filled):
    path, commit, _ = filled
    manifest = os.path.join(path, "manifests", f"{commit:012d}.json")
    original = open(manifest, "rb").read()
    with open(manifest, "wb") as f:
        f.write(original[: len(original) // 2])
    with pytest.raises(octavo.CorruptionError, match="manifest"):
        octavo.open(path, "r")
    # an earlier commit is still readable, as the message suggests
    with octavo.open(path, commit=commit - 1) as old:
        assert old.commit["id"] == commit - 1
    with open(manifest, "wb") as f:
        f.write(original)
    cur = os.path.join(path, "CURRENT")
    with open(cur, "w") as f:
        f.write("garbage{")
    with pytest.raises(octavo.CorruptionError, match="CURRENT"):
        octavo.open(path, "r")
    os.remove(cur)
    with pytest.raises(octavo.CorruptionError, match="CURRENT"):
        octavo.open(path, "a")


def test_failed_write_leaves_last_commit(filled, monkeypatch):
    """A write that fails half-way (here: the data stream raises) commits nothing."""
    path, commit, _ = filled

    def batches():
        yield pa.record_batch({"x": pa.array(np.arange(100))})
        raise RuntimeError("source failed mid-stream")

    with octavo.open(path, "a") as b:
        reader = pa.RecordBatchReader.from_batches(pa.schema([("x", pa.int64())]), batches())
        with pytest.raises(Exception, match="source failed"):
            b["/t"].append(reader)
        assert b.commit["id"] == commit
        assert b["/t"].num_rows == 10_000
    with octavo.open(path, "r") as b:
        assert b.commit["id"] == commit and b["/t"].num_rows == 10_000


def test_garbage_part_during_chunked_scan(filled):
    path, _, parts = filled
    size = os.path.getsize(parts[1])
    with open(parts[1], "r+b") as f:
        f.seek(4)
        f.write(os.urandom(size - 12))  # keep the magic bytes, destroy the rest
    with octavo.open(path, "r") as b:
        chunks = b["/t"].iter_batches(1000, return_type="arrow")
        assert next(chunks).num_rows == 1000  # the healthy first part streams
        with pytest.raises(octavo.CorruptionError, match=parts[1]):
            for _ in chunks:
                pass
