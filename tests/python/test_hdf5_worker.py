"""HDF5 files are parsed in the octavo-h5worker process, never in the caller (issue 13):
damaged inputs give an octavo error naming the file, a worker that dies cannot take the
caller with it, and an import whose worker dies commits nothing."""
import os
import random
import shutil
import signal
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import octavo
from octavo import _octavo, fileio
from test_hdf5_import import make_pytables_file

OCTAVO = shutil.which("octavo")


def make_store(path):
    # fletcher32: HDF5 checksums the data chunks, so a flipped data byte is an error, not a
    # different value (without checksums nothing could tell)
    df = pd.DataFrame({"a": np.arange(200), "b": np.linspace(0, 1, 200), "s": [f"x{i}" for i in range(200)]})
    with pd.HDFStore(path, "w", complevel=1, complib="zlib", fletcher32=True) as st:
        st.put("df", df, format="table", track_times=False)
    return path


def damaged(data, seed, n_flips=30, n_truncations=6):
    rng = random.Random(seed)
    for _ in range(n_flips):
        off = rng.randrange(len(data))
        b = bytearray(data)
        b[off] ^= 0xFF
        yield f"flip@{off}", bytes(b)
    for _ in range(n_truncations):
        off = rng.randrange(len(data))
        yield f"truncate@{off}", data[:off]


def octavo_error_naming(fn, name):
    """None when fn() succeeds; the error when it raises an octavo error naming the file.
    Any other exception fails the test (a raw exception is a bug)."""
    try:
        fn()
        return None
    except octavo.OctavoError as e:
        assert name in str(e), f"error does not name {name}: {e}"
        return e


@pytest.mark.parametrize("kind", ["pandas", "pytables"])
def test_corruption_sweep_never_crashes_the_caller(tmp_path, kind):
    src = make_store(tmp_path / "src.h5") if kind == "pandas" else make_pytables_file(tmp_path / "src.h5", n=50)
    good = fileio.read_dataframe(src, write_parquet=False) if kind == "pandas" else None
    bundle = tmp_path / "b.octavo"
    with octavo.open(bundle, "a") as b:
        b.create_group("/", "before")
    outcomes = {"ok": 0, "error": 0}
    for what, data in damaged(src.read_bytes(), seed=13 if kind == "pandas" else 14):
        p = tmp_path / "victim.h5"
        p.write_bytes(data)
        if kind == "pandas":
            got = []
            e = octavo_error_naming(lambda: got.append(fileio.read_dataframe(p, write_parquet=False)), "victim.h5")
            if e is None:  # read at all: the data read is the data written
                pd.testing.assert_frame_equal(got[0], good, obj=what)
        octavo_error_naming(lambda: fileio.inspect_h5(p), "victim.h5")
        octavo_error_naming(lambda: fileio.list_h5(p), "victim.h5")
        with octavo.open(bundle, "a") as b:
            before = b.commit["id"]
            e = octavo_error_naming(lambda: fileio.import_h5(b, p, "/x"), "victim.h5")
            outcomes["ok" if e is None else "error"] += 1
            if e is None:
                b.remove_node("/x", recursive=True)
            else:  # nothing committed
                assert b.commit["id"] == before and "x" not in b["/"], what
    # the sweep exercised both outcomes
    assert outcomes["ok"] > 0 and outcomes["error"] > 0, outcomes


def write_stub(path, body):
    """An executable standing in for octavo-h5worker."""
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


STUB_PY = f"#!{sys.executable}\n" + """import json, os, signal, struct, sys
def frame(tag, payload):
    os.write(3, tag + struct.pack("<Q", len(payload)) + payload)
def msg(**j):
    frame(b"J", json.dumps(j).encode())
"""


@pytest.mark.parametrize("how", ["segv", "kill", "exit", "truncated", "garbage"])
def test_a_dying_worker_is_an_octavo_error_naming_the_file(tmp_path, how):
    src = make_store(tmp_path / "in.h5")
    body = {
        "segv": "#!/bin/sh\nkill -SEGV $$\n",
        "kill": "#!/bin/sh\nkill -KILL $$\n",
        "exit": "#!/bin/sh\nexit 7\n",
        "truncated": STUB_PY + "os.write(3, b'J' + struct.pack('<Q', 100) + b'{\"op\"')\n",
        "garbage": STUB_PY + "os.write(3, b'Z' * 64)\n",
    }[how]
    stub = write_stub(tmp_path / "worker", body)
    for call in (lambda: _octavo.h5_read_pandas(str(src), "", worker=str(stub)),
                 lambda: _octavo.h5_list(str(src), worker=str(stub)),
                 lambda: _octavo.h5_inspect(str(src), worker=str(stub))):
        with pytest.raises(octavo.CorruptionError) as ei:
            call()
        msg = str(ei.value)
        assert str(src) in msg and "the file is damaged or not HDF5" in msg, msg
        if how == "segv":
            assert "signal 11" in msg, msg
    # the test process is alive and the real worker still works
    assert len(fileio.read_dataframe(src, write_parquet=False)) == 200


def test_a_worker_dying_mid_import_commits_nothing(tmp_path):
    # the worker has created a group, set an attribute and sent half a table when it is killed
    src = make_store(tmp_path / "in.h5")
    stub = write_stub(tmp_path / "worker", STUB_PY + """
msg(op="group", dest="/imp")
msg(op="attr", dest="/imp", key="k", value="1")
msg(op="table", dest="/imp/t")
frame(b"D", b"\\xff\\xff\\xff\\xff")
os.kill(os.getpid(), signal.SIGKILL)
""")
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        b.create_group("/", "before")
        before = b.commit["id"]
        with pytest.raises(octavo.CorruptionError) as ei:
            _octavo.h5_import(b._native, str(src), "/imp", worker=str(stub))
        assert "in.h5" in str(ei.value) and "signal 9" in str(ei.value), str(ei.value)
        assert b.commit["id"] == before and "imp" not in b["/"]
        fileio.import_h5(b, src, "/imp")  # the bundle is usable: a real import works
        assert b.get_table("/imp/df", return_type="pandas").shape == (200, 3)
    with octavo.open(tmp_path / "b.octavo") as b:
        assert b.commit["id"] == before + 1


def test_a_worker_error_keeps_its_code(tmp_path):
    # the worker's Status crosses the pipe with its code: a missing key is NotFoundError
    src = make_store(tmp_path / "in.h5")
    with pytest.raises(octavo.NotFoundError, match="in.h5"):
        fileio.read_dataframe(src, key="/nope", write_parquet=False)


def test_cli_survives_a_crashing_worker(tmp_path):
    src = make_store(tmp_path / "in.h5")
    stub = write_stub(tmp_path / "worker", "#!/bin/sh\nkill -SEGV $$\n")
    for args in (["h5ls", src], ["import", src, f"{tmp_path}/b.octavo:/x"]):
        r = subprocess.run([OCTAVO, "--h5-worker", stub, *map(str, args)], capture_output=True, text=True)
        assert r.returncode not in (0, -signal.SIGSEGV), r
        assert "in.h5" in r.stderr and "damaged or not HDF5" in r.stderr, r.stderr
    assert not (tmp_path / "b.octavo").exists()  # the file is looked at before the bundle is created


def test_migrate_pool_survives_a_dying_worker(tmp_path):
    # A stand-in worker that speaks the migrate protocol: it "converts" every file (reporting
    # success without writing anything) except f3.h5, on which it is killed. The pool fails
    # only f3.h5, naming it, and a replacement worker takes the remaining files.
    for i in range(6):
        (tmp_path / f"f{i}.h5").write_bytes(b"x")
    stub = write_stub(tmp_path / "worker", STUB_PY.replace("frame(b\"J\"", "frame(b\"J\"") + """
def send(j):
    os.write(3, (json.dumps(j) + "\\n").encode())
def read(n):
    b = b""
    while len(b) < n:
        c = os.read(0, n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b
while True:
    send({"t": "next"})
    task, = struct.unpack("<Q", read(8))
    n, = struct.unpack("<I", read(4))
    path = read(n).decode()
    i = task & ~(1 << 63)
    send({"t": "start", "i": i})
    if path.endswith("f3.h5"):
        os.kill(os.getpid(), signal.SIGKILL)
    send({"t": "done", "i": i, "status": "converted", "outputs": [], "keys": ["/df"], "rows": 1,
          "removed": False, "message": "", "seconds": 0, "timing": [0, 0, 0, 0]})
""")
    results = _octavo.h5_migrate(sorted(str(p) for p in tmp_path.glob("f*.h5")), jobs=2, worker=str(stub))
    status = {os.path.basename(r["file"]): r["status"] for r in results}
    assert status == {f"f{i}.h5": ("failed" if i == 3 else "converted") for i in range(6)}, results
    msg = [r["message"] for r in results if r["status"] == "failed"][0]
    assert "f3.h5" in msg and "signal 9" in msg, msg


def test_names_that_are_not_utf8_are_listed_escaped_never_raw(tmp_path):
    # h5py writes any bytes as a link or attribute name; octavo names, JSON and Arrow hold
    # only UTF-8: such objects are listed with \xNN escapes and not imported, such attributes
    # dropped with the reason (before: a raw nlohmann type_error.316, or a silently altered
    # U+FFFD name)
    h5py = pytest.importorskip("h5py")
    src = tmp_path / "names.h5"
    with h5py.File(src, "w") as f:
        g = f.create_group(b"gr\xff\xfeoup")
        g.create_dataset(b"d\xe9", data=np.arange(3))
        f.create_dataset("ok", data=np.arange(4))
        f["ok"].attrs[b"at\xff"] = 3
        f["ok"].attrs["fine"] = 1
    items = {it["h5_path"]: it for it in fileio.inspect_h5(src)}
    assert not items["/gr\\xff\\xfeoup"]["supported"] and "not valid UTF-8" in items["/gr\\xff\\xfeoup"]["reason"]
    assert [o["key"] for o in fileio.list_h5(src)] == ["/gr\\xff\\xfeoup", "/ok"]
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        rep = fileio.import_h5(b, src, "/x")
        assert b["/x/ok"][:].tolist() == [0, 1, 2, 3]
        assert dict(b["/x/ok"].attrs) == {"fine": 1}
        assert [n.path for n in b["/x"]] == ["/x/ok"]
    dropped = [it for it in rep["items"] if it["kind"] == "attribute"]
    assert len(dropped) == 1 and "at\\xff" in dropped[0]["reason"] and "not valid UTF-8" in dropped[0]["reason"]
    r = subprocess.run([OCTAVO, "h5ls", src], capture_output=True, text=True)
    assert r.returncode == 0 and "gr\\xff\\xfeoup" in r.stdout, r


def test_pandas_object_whose_name_is_not_utf8(tmp_path):
    h5py = pytest.importorskip("h5py")
    src = tmp_path / "pd.h5"
    pd.DataFrame({"a": [1, 2]}).to_hdf(src, key="df", format="table", mode="w")
    with h5py.File(src, "a") as f:
        f.move("df", b"d\xfff")
    assert fileio.list_h5(src) == [{"key": "/d\\xfff", "pandas_type": "", "kind": "other", "supported": False,
                                    "note": "the name is not valid UTF-8 (shown with \\xNN escapes): not imported"}]
    with pytest.raises(octavo.NotFoundError, match="pd.h5"):
        fileio.read_dataframe(src, write_parquet=False)
    rep = fileio.migrate_h5_to_parquet(src)
    assert "d\\xfff" in rep["failed"][str(src)] and "not valid UTF-8" in rep["failed"][str(src)]


def test_a_table_stream_that_is_not_valid_arrow_is_refused(tmp_path):
    # a worker whose memory a hostile file corrupted could send an Arrow batch that is not
    # valid (here: a string column holding bytes that are not UTF-8): the parent fully
    # validates every batch before using it
    import pyarrow as pa
    bad = pa.StringArray.from_buffers(2, pa.py_buffer(np.array([0, 1, 3], dtype=np.int32).tobytes()),
                                      pa.py_buffer(b"a\xff\xfe"))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, pa.schema([("s", pa.string())])) as w:
        w.write_batch(pa.record_batch([bad], names=["s"]))
    ipc = tmp_path / "bad.ipc"
    ipc.write_bytes(sink.getvalue().to_pybytes())
    stub = write_stub(tmp_path / "worker", STUB_PY + f"""
msg(op="table")
frame(b"D", open({str(ipc)!r}, "rb").read())
frame(b"E", b"")
msg(op="ok")
""")
    src = make_store(tmp_path / "in.h5")
    with pytest.raises(octavo.CorruptionError, match="in.h5"):
        pa.table(_octavo.h5_read_pandas(str(src), "", worker=str(stub)))


def test_cli_cpu_limit_stops_a_looping_reader(tmp_path):
    # A reader stuck in a loop (as libhdf5 can be on a damaged file) is stopped after
    # --h5-cpu-limit CPU seconds and the file fails, naming the reason; without the option
    # the stand-in would spin forever (the test's timeout would fire).
    src = make_store(tmp_path / "in.h5")
    stub = write_stub(tmp_path / "worker",
                      '#!/bin/sh\n[ "$1" = "--cpu-limit" ] || exit 9\nulimit -S -t "$2"\nwhile :; do :; done\n')
    r = subprocess.run([OCTAVO, "--h5-cpu-limit", "1", "--h5-worker", stub, "h5ls", str(src)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode not in (0, -signal.SIGXCPU), r
    assert "in.h5" in r.stderr and f"signal {int(signal.SIGXCPU)}" in r.stderr and "--h5-cpu-limit" in r.stderr, r.stderr
    # the real reader under a limit it does not reach works as before
    r = subprocess.run([OCTAVO, "--h5-cpu-limit", "60", "h5ls", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([OCTAVO, "--h5-cpu-limit", "-1", "h5ls", str(src)], capture_output=True, text=True)
    assert r.returncode == 2, r  # usage error
