"""Flip sweep: damage every kind of file in a small bundle (bit flips at seeded offsets, every
bit position; truncations) and read everything back through the public API. Each trial must
give exactly the original data or an octavo.OctavoError -- never different data, never a crash.

Trials run in worker subprocesses, so a crash or hang is counted (CRASH), not fatal. The counts
per file kind are printed (pytest -s). Every kind is in STRICT_KINDS: a WRONG result or a
crash in any of them fails the test.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import warnings

import numpy as np
import pyarrow as pa

import octavo

ALL_KINDS = ("manifest_newest", "manifest_old", "CURRENT", "OCTAVO", "snapshot", "table_part_pages",
             "table_part_footer", "index", "array_chunk_zstd", "array_chunk_lz4", "array_chunk_blosc",
             "array_chunk_none", "file_blob", "dropped_record")
# Kinds that must give correct data or an OctavoError in every trial (no WRONG, no CRASH): all.
STRICT_KINDS: set = set(ALL_KINDS)
SEED = 20261205
FLIPS_PER_FILE = 16      # seeded offsets per file, each with a different bit (0..7 cycling)
TRIAL_TIMEOUT_S = 120    # a hang counts as CRASH; generous: 2 shared cores

# The reader: every read the API offers, each step recorded as a digest of its value or the
# error class, so one damaged file cannot hide wrong data in a later step.
READER = r"""
import hashlib, json, sys, numpy as np, octavo

def digest(v):
    if hasattr(v, "to_pydict"):
        v = v.to_pydict()
    if isinstance(v, np.ndarray):
        return hashlib.sha256(v.dtype.str.encode() + repr(v.shape).encode() + v.tobytes()).hexdigest()
    return hashlib.sha256(repr(v).encode()).hexdigest()

def step(out, name, fn):
    try:
        out[name] = digest(fn())
    except octavo.OctavoError as e:
        out[name] = "error:" + type(e).__name__
    except Exception as e:  # not an OctavoError: a bug too
        out[name] = "OTHER:%s:%s" % (type(e).__name__, str(e)[:200])

def read_all(path):
    out = {}
    try:
        b = octavo.open(path, "r")
    except octavo.OctavoError as e:
        return {"open": "error:" + type(e).__name__}
    except Exception as e:
        return {"open": "OTHER:%s:%s" % (type(e).__name__, str(e)[:200])}
    out["open"] = "ok"
    step(out, "tree", lambda: sorted((n.path, type(n).__name__) for n in b.walk_nodes("/")))
    step(out, "t.read", lambda: b["/t"].read(return_type="arrow"))
    step(out, "t.where_v_index", lambda: b["/t"].read_where("v > 0.9", return_type="arrow"))
    step(out, "t.where_id_cat", lambda: b["/t"].read_where("(id < 700) & (cat == 'bb')", return_type="arrow"))
    step(out, "u.read", lambda: b["/u"].read(return_type="arrow"))
    for c in ("zstd", "lz4", "blosc", "none"):
        step(out, "a_" + c, lambda c=c: b["/a_" + c][:])
    step(out, "f.read", lambda: b.open_file("/f", "rb").read())
    step(out, "commits", lambda: [(c["id"], c.get("message")) for c in b.commits()])
    for c in b.commits() if out["commits"].startswith("error") is False else []:
        def old(cid=c["id"]):
            with octavo.open(path, "r", commit=cid) as ob:
                nodes = sorted(n.path for n in ob.walk_nodes("/"))
                t = ob["/t"].read(return_type="arrow") if "/t" in nodes else None
                return nodes, None if t is None else t.to_pydict()
        step(out, "commit%d" % c["id"], old)
    def snap():
        with octavo.open(path, "r", snapshot="s1") as sb:
            return sb["/t"].read(return_type="arrow").to_pydict()
    step(out, "snapshot_s1", snap)
    return out

for line in sys.stdin:
    print(json.dumps(read_all(line.strip())), flush=True)
"""


def build_bundle(path):
    rng = np.random.default_rng(SEED)
    n = 3000
    with octavo.open(path, "w") as b:
        # id: sorted int64 -> DELTA_BINARY_PACKED; cat: dictionary; v: PLAIN doubles, zstd.
        t = b.create_table("/t", pa.table({
            "id": np.arange(n, dtype=np.int64),
            "cat": pa.array([("a", "bb", "ccc")[i % 3] for i in range(n)]),
            "v": rng.random(n)}), options={"compression": "zstd", "row_group_size": 1000})
        b.create_snapshot("s1")
        t.append(pa.table({"id": np.arange(n, n + 500, dtype=np.int64),
                           "cat": pa.array(["a"] * 500), "v": rng.random(500)}))
        t.create_index("v")
        b.create_table("/u", pa.table({"x": np.arange(200, dtype=np.int32) * 7,
                                       "s": pa.array([f"s{i}" for i in range(200)])}),
                       options={"compression": "uncompressed", "dictionary": False})
        for c in ("zstd", "lz4", "blosc", "none"):
            octavo.array.create_array(b, "/a_" + c, rng.random((50, 10)), chunks=(25, 10), compressor=c)
        with b.create_file("/f") as f:
            f.write(bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))


def classify(root):
    """(relative path, kind) for every file; index and chunk files found through the manifest."""
    newest = json.loads(open(os.path.join(root, "CURRENT")).read())
    manifests = sorted(n for n in os.listdir(os.path.join(root, "manifests")) if n[:12].isdigit())
    latest = json.load(open(os.path.join(root, "manifests", manifests[-1])))
    kinds = {}

    def walk(v, ctx):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, ctx + [k])
        elif isinstance(v, list):
            for x in v:
                walk(x, ctx)
        elif isinstance(v, str) and v.startswith("data/"):
            kinds.setdefault(v, ctx)

    walk(latest["nodes"], [])
    out = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if rel in ("LOCK", "LOCK.commit") or "/_delta_log/" in rel:
                continue  # lock files are never read as data; the Delta log is derived data octavo never reads
            if rel == "manifests/dropped.json":
                kind = "dropped_record"
            elif rel.startswith("manifests/"):
                kind = "manifest_newest" if name == manifests[-1] else "manifest_old"
            elif rel in ("CURRENT", "OCTAVO"):
                kind = rel
            elif rel.startswith("snapshots/"):
                kind = "snapshot"
            elif rel.startswith("data/files/"):
                kind = "file_blob"
            else:
                ctx = kinds.get(rel, [])
                node = ctx[0] if ctx else ""
                if any("index" in str(k) for k in ctx):
                    kind = "index"
                elif node.startswith("/a_"):
                    kind = "array_chunk_" + node[3:]
                elif rel.endswith(".parquet"):
                    kind = "table_part"
                else:
                    kind = "unknown"
            out.append((rel, kind))
    assert newest, "CURRENT is empty"
    return sorted(out)


def trials_for(root, rel, kind, rng):
    """(kind, description, mutate(path)) for one file: seeded bit flips, truncations."""
    size = os.path.getsize(os.path.join(root, rel))
    footer_start = size
    if kind == "table_part" and size >= 12:
        with open(os.path.join(root, rel), "rb") as f:
            f.seek(size - 8)
            footer_start = size - 8 - int.from_bytes(f.read(4), "little")
    offsets = {0, size - 1, size // 2} | {rng.randrange(size) for _ in range(FLIPS_PER_FILE)}
    if kind == "table_part":  # more in the footer: it is a small part of the file
        offsets |= {rng.randrange(max(0, footer_start), size) for _ in range(FLIPS_PER_FILE)}
    out = []
    for i, off in enumerate(sorted(o for o in offsets if 0 <= o < size)):
        bit = i % 8
        k = kind if kind != "table_part" else ("table_part_footer" if off >= footer_start else "table_part_pages")

        def flip(p, off=off, bit=bit):
            with open(p, "r+b") as f:
                f.seek(off)
                c = f.read(1)[0]
                f.seek(off)
                f.write(bytes([c ^ (1 << bit)]))
        out.append((k, f"{rel} flip @{off} bit {bit}", flip))
    for n in sorted({0, 1, size // 2, max(0, size - 1), max(0, size - 8)}):
        if n >= size:
            continue
        k = kind if kind != "table_part" else "table_part_footer"
        out.append((k, f"{rel} truncate to {n}", lambda p, n=n: os.truncate(p, n)))
    return out


class Worker:
    """A reader subprocess; restarted after it dies (a crash) or hangs."""

    def __init__(self):
        self.proc = None

    def run(self, path):
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-c", READER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write(path + "\n")
        self.proc.stdin.flush()
        result = {}
        reader = threading.Thread(target=lambda: result.update(line=self.proc.stdout.readline()))
        reader.start()
        reader.join(TRIAL_TIMEOUT_S)
        if reader.is_alive() or not result.get("line"):
            self.proc.kill()
            self.proc.wait()
            reader.join()
            self.proc = None
            return None
        return json.loads(result["line"])

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def judge(base, got):
    if got is None:
        return "CRASH"
    if any(v.startswith("OTHER:") for v in got.values()):
        return "WRONG"  # an exception that is not an OctavoError
    if got.get("open") != "ok":
        return "error"
    if any(not v.startswith("error:") and v != base[k] for k, v in got.items()):
        return "WRONG"
    if any(v.startswith("error:") for v in got.values()) or got.keys() != base.keys():
        return "error"
    return "correct"


def sweep(tmp_path):
    pristine = str(tmp_path / "pristine")
    build_bundle(pristine)
    worker = Worker()
    try:
        base = worker.run(pristine)
        assert base is not None and all(not v.startswith(("error", "OTHER")) for v in base.values()), base
        rng = random.Random(SEED)
        trials = []
        for rel, kind in classify(pristine):
            assert kind != "unknown", f"cannot classify {rel}"
            trials += trials_for(pristine, rel, kind, rng)
        counts = {k: dict(trials=0, correct=0, error=0, WRONG=0, CRASH=0) for k in ALL_KINDS}
        bad = []
        for i, (kind, what, mutate) in enumerate(trials):
            # a fresh path per trial: the worker process's chunk cache is keyed by path
            work = str(tmp_path / f"trial{i}")
            shutil.copytree(pristine, work)
            mutate(os.path.join(work, what.split(" ")[0]))
            got = worker.run(work)
            shutil.rmtree(work, ignore_errors=True)
            verdict = judge(base, got)
            counts[kind]["trials"] += 1
            counts[kind][verdict] += 1
            if verdict in ("WRONG", "CRASH"):
                diff = None if got is None else sorted(
                    k if not v.startswith("OTHER:") else f"{k}={v}"
                    for k, v in got.items() if v != base.get(k) and not v.startswith("error:"))
                bad.append(f"{verdict} {kind}: {what} -> {diff}")
        return counts, bad
    finally:
        worker.close()


def format_counts(counts):
    lines = [f"{'kind':20} {'trials':>6} {'correct':>7} {'error':>6} {'WRONG':>6} {'CRASH':>6}"]
    for k, c in counts.items():
        lines.append(f"{k:20} {c['trials']:6} {c['correct']:7} {c['error']:6} {c['WRONG']:6} {c['CRASH']:6}")
    return "\n".join(lines)


def test_flip_sweep(tmp_path):
    counts, bad = sweep(tmp_path)
    report = format_counts(counts)
    print("\n" + report)
    print("\n".join(bad))
    assert all(c["trials"] > 0 for c in counts.values()), report  # every kind was damaged
    not_clean = [k for k, c in counts.items() if c["WRONG"] or c["CRASH"]]
    failing = [k for k in not_clean if k in STRICT_KINDS]
    assert not failing, f"wrong data or crashes in {failing}:\n{report}\n" + "\n".join(bad)
    if not_clean:
        warnings.warn(f"flip sweep: wrong data or crashes in {not_clean} (not yet strict)\n{report}\n"
                      + "\n".join(bad[:40]), stacklevel=1)
