"""`octavo where` streams every output format: memory bounded whatever the result's size,
--limit stops the scan, a reader that goes away (`| head`) ends it quietly (octavo issue 13)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import octavo
from test_cli import CLI, run

pytestmark = pytest.mark.skipif(CLI is None, reason="the octavo CLI is not built / not on PATH")

CHUNK_ROWS, CHUNKS, WIDTH = 50_000, 16, 1000
RESULT_BYTES = CHUNK_ROWS * CHUNKS * WIDTH  # the string column alone: 800 MB


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """800,000 rows of 1,000-byte strings, in 20,000-row row groups (quick to write: one
    chunk appended again and again)."""
    path = str(tmp_path_factory.mktemp("stream") / "wide.octavo")
    data = (np.arange(CHUNK_ROWS * WIDTH) % 26 + 97).astype(np.uint8).tobytes()
    offsets = (np.arange(CHUNK_ROWS + 1, dtype=np.int32) * WIDTH).tobytes()
    s = pa.StringArray.from_buffers(CHUNK_ROWS, pa.py_buffer(offsets), pa.py_buffer(data))
    with octavo.open(path, "w") as b:
        for k in range(CHUNKS):
            t = pa.table({"id": np.arange(k * CHUNK_ROWS, (k + 1) * CHUNK_ROWS), "s": s})
            if k == 0:
                b.create_table("/t", data=t, row_group_size=20_000)
            else:
                b.table("/t").append(t)
    return path


# Runs one command in a fresh intermediate process and prints its peak RSS (KiB): the
# RUSAGE_CHILDREN maximum covers every child a process has waited for.
_PEAK = ("import resource, subprocess, sys\n"
         "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
         "assert r.returncode == 0, r.stderr\n"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def _peak_rss(*args) -> int:
    r = subprocess.run([sys.executable, "-c", _PEAK, CLI, *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return int(r.stdout) * 1024


@pytest.mark.parametrize("fmt", [[], ["--json"], ["--csv"], ["--json", "--stats"], ["--stats"],
                                 ["--max-width", "0"], ["--limit", "600000"], ["--json", "--limit", "600000"]],
                         ids=lambda f: " ".join(f) or "text")
def test_where_memory_is_bounded_for_every_format(wide, fmt):
    # Before streaming: 0.6-2.8 GB (the whole result, then its text / JSON); now about 190 MB.
    peak = _peak_rss("where", f"{wide}:/t", "id >= 0", *fmt)
    # RESULT / 2.5: peaks of 200-275 MiB were seen on a loaded 2-core machine (page cache and
    # allocator retention vary); the unstreamed output took 0.6-2.8 GB.
    assert peak < RESULT_BYTES / 2.5, f"peak RSS {peak / 2**20:.0f} MiB for a {RESULT_BYTES / 2**20:.0f} MiB result"


def test_where_limit_stops_the_scan(wide):
    out = json.loads(run("--json", "where", f"{wide}:/t", "id >= 0", "--limit", "5", "--stats",
                         "--columns", "id").stdout)
    assert [r["id"] for r in out["rows"]] == list(range(5)) and out["more"] is True
    assert out["stats"]["rows_scanned"] < CHUNK_ROWS * CHUNKS // 4


def _cut_short(args, ignore_sigpipe: bool) -> subprocess.CompletedProcess:
    """Runs octavo with stdout on a pipe whose reader closes it after 64 KiB."""
    pre = (lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN)) if ignore_sigpipe else None
    p = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=pre)
    p.stdout.read(65536)
    p.stdout.close()
    err = p.stderr.read()
    p.wait(timeout=300)
    p.stderr.close()
    return subprocess.CompletedProcess(args, p.returncode, b"", err)


@pytest.mark.parametrize("ignore_sigpipe", [False, True], ids=["sigpipe", "epipe"])
@pytest.mark.parametrize("fmt", [[], ["--json"], ["--csv"], ["--json", "--stats"]],
                         ids=lambda f: " ".join(f) or "text")
def test_where_closed_pipe_ends_quietly(wide, fmt, ignore_sigpipe):
    r = _cut_short(["where", f"{wide}:/t", "id >= 0", *fmt], ignore_sigpipe)
    assert r.stderr == b""
    # Killed by SIGPIPE, or (with SIGPIPE ignored) the status a shell shows for that.
    assert r.returncode == (128 + signal.SIGPIPE if ignore_sigpipe else -signal.SIGPIPE)


def test_where_json_is_byte_for_byte_a_pretty_array(tmp_path):
    path = str(tmp_path / "j.octavo")
    ids = np.arange(25_000)
    words = [f"w\u00e9{i}\n\"" for i in ids]
    with octavo.open(path, "w") as b:
        b.create_table("/t", data=pa.table({"id": ids, "w": words}), row_group_size=3000)
    want = [{"id": int(i), "w": w} for i, w in zip(ids, words, strict=True) if i % 3 == 0]
    out = run("--json", "where", f"{path}:/t", "id % 3 == 0").stdout
    assert out == json.dumps(want, indent=2, ensure_ascii=False) + "\n"
    out = run("--json", "where", f"{path}:/t", "id % 3 == 0", "--stats", "--limit", "4000").stdout
    doc = json.loads(out)
    assert doc["rows"] == want[:4000] and doc["more"] is True
    assert out == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert run("--json", "where", f"{path}:/t", "id < 0").stdout == "[]\n"
    doc = json.loads(run("--json", "where", f"{path}:/t", "id < 0", "--stats").stdout)
    assert doc["rows"] == [] and doc["more"] is False


def test_where_text_table_of_many_rows(tmp_path):
    """Past RowPrinter's block (10,000 rows) the table is aligned block by block, columns
    never narrower than before; every row is printed once, in order."""
    path = str(tmp_path / "t.octavo")
    n = 25_000
    with octavo.open(path, "w") as b:
        b.create_table("/t", data=pa.table({"id": np.arange(n), "w": ["x" * (i // 1000) for i in range(n)]}))
    lines = run("where", f"{path}:/t", "id >= 0").stdout.splitlines()
    assert lines[0].split() == ["id", "w"] and set(lines[1]) == {"-", " "}
    assert lines[-1] == f"({n:,} rows)"
    body = lines[2:-1]
    assert [int(ln.split()[0]) for ln in body] == list(range(n))
    assert all(ln.split()[1:] == (["x" * (i // 1000)] if i >= 1000 else []) for i, ln in enumerate(body))
    # within the first block the columns line up with the header
    assert len({ln.index("x") for ln in body[1000:10_000]}) == 1
