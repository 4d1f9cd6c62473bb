"""Bundles on an object store (docs/format.md 5.3), against a real S3 server started here on
127.0.0.1 (moto's server, which supports conditional writes): every node kind round trips,
writers race without locks (a commit is a conditional create of its manifest), a killed writer
leaves the bundle at its last commit, gc, a bundle uploaded from local disk, the CLI, and a
clear error for a store that ignores If-None-Match."""
from __future__ import annotations

import datetime
import http.client
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

import octavo

boto3 = pytest.importorskip("boto3")  # moto[server] brings it (scripts/setup.sh)
pytest.importorskip("moto")
import moto_server  # noqa: E402  (tests/python: moto with atomic conditional writes)

CLI = os.environ.get("OCTAVO_CLI") or shutil.which("octavo")
KEY = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    proc, url = moto_server.start(str(tmp_path_factory.mktemp("moto") / "moto.log"))
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def s3(s3_server, request):
    """A fresh bucket; yields (bucket url prefix, storage options, boto3 client)."""
    client = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    bucket = "b-" + request.node.name.lower().replace("_", "-")[:50]
    client.create_bucket(Bucket=bucket)
    opts = {"endpoint_url": s3_server, "allow_http": True, "access_key_id": "testing",
            "secret_access_key": "testing", "region": "us-east-1"}
    return f"s3://{bucket}", opts, client


def _keys(client, bucket: str, prefix: str = "") -> list[str]:
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def test_table_round_trip_with_pushdown_and_range_reads(s3):
    root, opts, client = s3
    path = f"{root}/exp/run.octavo"
    with octavo.open(path, "a", storage_options=opts) as b:
        b.add_table("t", pa.table({"x": pa.array(range(1000), pa.int64()), "y": [f"s{i}" for i in range(1000)]}))
        b.append_table("/t", pa.table({"x": pa.array(range(1000, 1500), pa.int64()),
                                       "y": [f"s{i}" for i in range(1000, 1500)]}))
        assert b.commit["id"] == 2
    keys = _keys(client, path[5:].split("/")[0])
    assert "exp/run.octavo/manifests/000000000002.json" in keys
    assert not [k for k in keys if k.endswith("LOCK") or k.endswith("LOCK.commit") or ".tmp" in k]
    with octavo.open(path, storage_options=opts) as r:
        t = r["/t"]
        assert t.num_rows == 1500
        assert r["/t"].read_arrow()["x"].to_pylist() == list(range(1500))
        assert t.read_arrow(1200, 1203)["y"].to_pylist() == ["s1200", "s1201", "s1202"]
        res = t.where("x >= 1490", return_type="arrow")
        rows = pa.concat_tables(list(res))
        assert rows["x"].to_pylist() == list(range(1490, 1500))
        assert res.stats["parts_skipped"] >= 1  # the first part's statistics rule it out


def test_parts_and_files_larger_than_one_upload_part(s3):
    # Arrow's S3 output streams switch to a multipart upload beyond about 10 MB.
    root, opts, client = s3
    path = f"{root}/big.octavo"
    rng = np.random.default_rng(7)
    x = rng.random(3_000_000)  # 24 MB of incompressible float64 in one part
    blob = rng.bytes(12 * 1024 * 1024)
    with octavo.open(path, "w", storage_options=opts) as b:
        b.add_table("t", pa.table({"x": x}), row_group_size=1 << 20)
        with b.create_file("/blob") as f:
            f.write(blob)
    sizes = [o["Size"] for o in client.list_objects_v2(Bucket=root[5:], Prefix="big.octavo/data/")["Contents"]]
    assert max(sizes) > 20 * 1024 * 1024
    with octavo.open(path, storage_options=opts) as r:
        np.testing.assert_array_equal(r["/t"].read_arrow()["x"].to_numpy(), x)
        assert r["/t"].read(2_999_990, 3_000_000)["x"].to_pylist() == x[-10:].tolist()
        with r.open_file("/blob") as f:
            assert f.read() == blob


def test_array_file_groups_and_attributes_round_trip(s3):
    root, opts, _ = s3
    path = f"{root}/b.octavo"
    data = np.arange(10_000, dtype="float64").reshape(100, 100)
    blob = os.urandom(300_000)
    with octavo.open(path, "w", storage_options=opts) as b:
        b.create_group("/g/h")
        b.create_array("/g/arr", data, chunks=(30, 30))
        with b.create_file("/g/h/blob.bin") as f:
            f.write(blob)
        b["/g"].attrs["unit"] = "m/s"
    with octavo.open(path, storage_options=opts) as r:
        np.testing.assert_array_equal(r["/g/arr"].read(), data)
        np.testing.assert_array_equal(r["/g/arr"][10:20, 95:], data[10:20, 95:])
        with r.open_file("/g/h/blob.bin") as f:
            assert f.read() == blob
            f.seek(123_456)
            assert f.read(10) == blob[123_456:123_466]
        assert r["/g"].attrs["unit"] == "m/s"
        assert sorted(n.path for n in r.walk_nodes("/")) == ["/", "/g", "/g/arr", "/g/h", "/g/h/blob.bin"]


WRITER = r"""
import sys, json, octavo, pyarrow as pa
path, w, m, ack, opts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
b = octavo.open(path, "a", storage_options=opts)
with open(ack, "w") as f:
    for i in range(m):
        b.append_table("/t", pa.table({"writer": pa.array([w] * 3, pa.int64()),
                                       "seq": pa.array([i] * 3, pa.int64())}))
        f.write(f"{i}\n")
        f.flush()
b.close()
"""


def _racing_writers(tmp_path, s3, n: int, m: int) -> None:
    import json
    root, opts, _ = s3
    path = f"{root}/race.octavo"
    with octavo.open(path, "w", storage_options=opts) as b:
        b.add_table("t", pa.table({"writer": pa.array([], pa.int64()), "seq": pa.array([], pa.int64())}))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(w), str(m), str(tmp_path / f"ack{w}"),
                               json.dumps(opts)], stderr=subprocess.PIPE, text=True) for w in range(n)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    acked = {(w, int(s)) for w in range(n) for s in (tmp_path / f"ack{w}").read_text().split()}
    assert len(acked) == n * m
    with octavo.open(path, storage_options=opts) as r:
        t = r["/t"].read_arrow()
        rows = Counter(zip(t["writer"].to_pylist(), t["seq"].to_pylist(), strict=True))
        assert set(rows) == acked  # none lost, none unacknowledged
        assert set(rows.values()) == {3}  # none twice
        commits = r.commits()
        assert [c["id"] for c in commits] == list(range(len(commits)))  # one manifest per commit id
        assert len(commits) == 2 + n * m


def test_two_writers_racing_both_batches_land_once(tmp_path, s3):
    _racing_writers(tmp_path, s3, n=2, m=10)


def test_many_writers_stress(tmp_path, s3):
    _racing_writers(tmp_path, s3, n=16, m=8)  # concurrency 16; bench_writers.py --s3 runs 16 x 200


def test_conflicting_writers_get_conflict_error(s3):
    root, opts, _ = s3
    path = f"{root}/c.octavo"
    with octavo.open(path, "w", storage_options=opts) as b:
        b.create_group("/g")
    a = octavo.open(path, "a", storage_options=opts)
    c = octavo.open(path, "a", storage_options=opts)
    a["/g"].attrs["k"] = 1
    with pytest.raises(octavo.ConflictError):
        c["/g"].attrs["k"] = 2  # the same attribute of the same node, changed by both
    c["/g"].attrs["other"] = 3  # after the conflict the handle is at a's commit: this one combines
    a.close()
    c.close()
    with octavo.open(path, storage_options=opts) as r:
        assert r["/g"].attrs["k"] == 1 and r["/g"].attrs["other"] == 3


KILLED = r"""
import os, sys, json, octavo, pyarrow as pa
path, opts = sys.argv[1], json.loads(sys.argv[2])
b = octavo.open(path, "a", storage_options=opts)
with b.transaction("never committed"):
    b.append_table("/t", pa.table({"x": pa.array(range(100, 200), pa.int64())}))  # data objects uploaded
    os._exit(9)  # killed before the manifest is created
"""


def test_writer_killed_mid_commit_leaves_last_commit_and_gc_removes_its_data(s3):
    import json
    root, opts, client = s3
    path = f"{root}/k.octavo"
    with octavo.open(path, "w", storage_options=opts) as b:
        b.add_table("t", pa.table({"x": pa.array(range(100), pa.int64())}))
        before = b.commit["id"]
    bucket = root[5:]
    data_before = {k for k in _keys(client, bucket, "k.octavo/data/")}
    p = subprocess.run([sys.executable, "-c", KILLED, path, json.dumps(opts)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 9, p.stderr
    orphans = {k for k in _keys(client, bucket, "k.octavo/data/")} - data_before
    assert orphans  # the killed writer's part was uploaded
    with octavo.open(path, "a", storage_options=opts) as b:
        assert b.commit["id"] == before
        assert b["/t"].read_arrow()["x"].to_pylist() == list(range(100))
        report = b.collect_garbage()  # the orphans are younger than the default hour: kept
        assert report["files_removed"] == 0 and report["recent_kept"] >= len(orphans)
        report = b.collect_garbage(min_age=0)
        assert report["files_removed"] >= len(orphans)
    left = {k for k in _keys(client, bucket, "k.octavo/data/")}
    assert not (left & orphans) and data_before <= left
    with octavo.open(path, storage_options=opts) as r:
        assert r["/t"].num_rows == 100


def test_gc_keep_last_drops_old_commits_on_s3(s3):
    root, opts, client = s3
    path = f"{root}/gc.octavo"
    with octavo.open(path, "w", storage_options=opts) as b:
        b.add_table("t", pa.table({"x": pa.array(range(10), pa.int64())}))
        b.add_table("t", pa.table({"x": pa.array(range(5), pa.int64())}), overwrite=True)
        b.collect_garbage(keep_last=1, min_age=datetime.timedelta(0))
    manifests = [k for k in _keys(client, root[5:], "gc.octavo/manifests/") if k.endswith(".json")
                 and "dropped" not in k]
    assert len(manifests) == 1
    with octavo.open(path, storage_options=opts) as r:
        assert r["/t"].read_arrow()["x"].to_pylist() == list(range(5))
        assert len(r.commits()) == 1


def test_gc_beside_a_running_writer_keeps_its_uploads(s3):
    # No LOCK on an object store: a writer's uploaded part is unreferenced until it commits,
    # and gc by default leaves anything younger than an hour.
    root, opts, _ = s3
    path = f"{root}/gcrace.octavo"
    with octavo.open(path, "w", storage_options=opts) as b:
        b.add_table("t", pa.table({"x": pa.array(range(10), pa.int64())}))
    w = octavo.open(path, "a", storage_options=opts)
    with w.transaction("append while gc runs"):
        w.append_table("/t", pa.table({"x": pa.array(range(10, 20), pa.int64())}))
        with octavo.open(path, "a", storage_options=opts) as g:
            report = g.collect_garbage()
        assert report["files_removed"] == 0 and report["recent_kept"] >= 1
    w.close()
    with octavo.open(path, storage_options=opts) as r:
        assert r["/t"].read_arrow()["x"].to_pylist() == list(range(20))
    with octavo.open(path, "a", storage_options=opts) as b, pytest.raises(octavo.InvalidArgumentError):
        b.collect_garbage(min_age=-1)


def test_bundle_uploaded_from_local_disk_reads_and_takes_commits(tmp_path, s3):
    root, opts, client = s3
    local = tmp_path / "local.octavo"
    with octavo.open(str(local), "w") as b:
        b.add_table("t", pa.table({"x": pa.array(range(50), pa.int64())}))
        b.create_array("/a", np.arange(12, dtype="int32").reshape(3, 4))
        b.put_file(__file__, "/src.py")
    bucket = root[5:]
    for dirpath, _, files in os.walk(local):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, local)
            if rel not in ("LOCK", "LOCK.commit"):
                client.upload_file(full, bucket, f"up/local.octavo/{rel}")
    path = f"{root}/up/local.octavo"
    with octavo.open(path, storage_options=opts) as r:
        assert r["/t"].read_arrow()["x"].to_pylist() == list(range(50))
        np.testing.assert_array_equal(r["/a"].read(), np.arange(12, dtype="int32").reshape(3, 4))
        with r.open_file("/src.py") as f, open(__file__, "rb") as g:
            assert f.read() == g.read()
    with octavo.open(path, "a", storage_options=opts) as b:
        b.append_table("/t", pa.table({"x": pa.array([50], pa.int64())}))
    with octavo.open(path, storage_options=opts) as r:
        assert r["/t"].num_rows == 51


class _S3Proxy(http.server.BaseHTTPRequestHandler):
    """Forwards to the S3 server. By default without If-None-Match: a store that ignores conditional writes.
    With ``strip = False`` it forwards them, and ``faults`` (shared, consumed in order) fail
    conditional PUTs of manifests: "after" forwards the PUT, then answers 500 (the object was
    created, the writer cannot know); "instead" answers 503 SlowDown without forwarding."""
    upstream: tuple[str, int] = ("127.0.0.1", 0)
    protocol_version = "HTTP/1.1"
    strip = True
    faults: list[str] = []

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # the AWS SDK streams uploads
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):  # trailers, then the end
                        pass
                    return out
                out += self.rfile.read(size + 2)[:size]
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def _fail(self, status: int) -> None:
        data = b"<Error><Code>InternalError</Code></Error>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _forward(self) -> None:
        body = self._body()
        dropped = ("connection", "transfer-encoding", "content-length") + (("if-none-match",) if self.strip else ())
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        fault = None
        if (self.command == "PUT" and "/manifests/" in self.path and self.path.split("?")[0].endswith(".json")
                and self.headers.get("If-None-Match") and self.faults):
            fault = self.faults.pop(0)
        if fault == "instead":
            return self._fail(503)
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if fault == "after":
            conn.close()
            return self._fail(500)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        # A HEAD answer has no body but the object's length.
        self.send_header("Content-Length", resp.getheader("Content-Length", "0") if self.command == "HEAD"
                         else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, *args) -> None:
        pass


def test_store_without_conditional_writes_is_refused_clearly(s3, s3_server):
    root, opts, _ = s3
    host, port = s3_server.rsplit("/", 1)[1].split(":")
    handler = type("H", (_S3Proxy,), {"upstream": (host, int(port))})
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        bad = dict(opts, endpoint_url=f"http://127.0.0.1:{proxy.server_address[1]}")
        with pytest.raises(octavo.errors.OctavoNotImplementedError, match="does not support conditional writes"):
            octavo.open(f"{root}/nocond.octavo", "a", storage_options=bad)
    finally:
        proxy.shutdown()


def test_commits_survive_5xx_answers_and_are_never_made_twice(s3, s3_server):
    # A 5xx to the conditional PUT says nothing about the manifest: the writer asks again, and
    # "already exists" then means its own earlier attempt landed (the object holds its text),
    # not a lost race (which would rebase and commit the same rows a second time).
    root, opts, _ = s3
    host, port = s3_server.rsplit("/", 1)[1].split(":")
    faults = ["after", "instead", "instead", "after", "after"]
    handler = type("H", (_S3Proxy,), {"upstream": (host, int(port)), "strip": False,
                                                    "faults": faults})
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        flaky = dict(opts, endpoint_url=f"http://127.0.0.1:{proxy.server_address[1]}")
        path = f"{root}/flaky.octavo"
        with octavo.open(path, "w", storage_options=flaky) as b:
            b.add_table("t", pa.table({"x": pa.array([0], pa.int64())}))
            for i in range(1, 4):
                b.append_table("/t", pa.table({"x": pa.array([i], pa.int64())}))
        assert faults == []  # every fault was served
        with octavo.open(path, storage_options=opts) as r:
            assert r["/t"].read_arrow()["x"].to_pylist() == [0, 1, 2, 3]
            assert [c["id"] for c in r.commits()] == list(range(len(r.commits())))
            assert r.commit["id"] == 4  # the bundle, the table, three appends: no commit twice
    finally:
        proxy.shutdown()


def test_bad_storage_options_and_plain_http_are_refused(s3):
    root, opts, _ = s3
    with pytest.raises(octavo.InvalidArgumentError, match="unknown storage option 'endpoint'"):
        octavo.open(f"{root}/x.octavo", "a", storage_options={"endpoint": "http://127.0.0.1:1"})
    no_http = {k: v for k, v in opts.items() if k != "allow_http"}
    with pytest.raises(octavo.InvalidArgumentError, match="allow_http"):
        octavo.open(f"{root}/x.octavo", "a", storage_options=no_http)
    with pytest.raises(octavo.errors.OctavoNotImplementedError, match="S3 only"):
        octavo.open("gs://bucket/x.octavo")
    with pytest.raises(octavo.NotFoundError):
        octavo.open(f"{root}/missing.octavo", storage_options=opts)


def test_commit_without_credentials_names_what_is_missing(s3, monkeypatch):
    root, opts, _ = s3
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    anonymous = {k: v for k, v in opts.items() if k not in ("access_key_id", "secret_access_key")}
    with pytest.raises(octavo.OctavoIOError, match="need explicit credentials"):
        octavo.open(f"{root}/anon.octavo", "a", storage_options=anonymous)


@pytest.mark.skipif(CLI is None, reason="octavo CLI not built")
def test_cli_reads_an_s3_bundle(s3):
    root, opts, _ = s3
    path = f"{root}/cli.octavo"
    with octavo.open(path, "w", storage_options=opts) as b:
        b.add_table("grp/t", pa.table({"x": pa.array(range(20), pa.int64())}))
    env = dict(os.environ, AWS_ENDPOINT_URL=opts["endpoint_url"], **KEY)
    p = subprocess.run([CLI, "tree", path, "--storage-option", "allow_http=true"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "grp" in p.stdout and "t" in p.stdout
    p = subprocess.run([CLI, "head", f"{path}:/grp/t", "-n", "3", "--storage-option", "allow_http=true"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "0" in p.stdout and "2" in p.stdout
