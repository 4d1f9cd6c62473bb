"""Contracts the flip sweep found open (octavo issue 13): damaged history is reported, error
messages that quote damaged bytes stay octavo errors, names that are not Unicode are refused
as octavo errors at every entry point."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest

import octavo
from test_cli import assert_fails, run, run_json


def history(path, n=4):
    with octavo.open(path, "w") as b:
        for i in range(n):
            b.create_group(f"/g{i}")
    return sorted(os.listdir(os.path.join(path, "manifests")))


def flip(file, offset, bit=0):
    with open(file, "r+b") as f:
        f.seek(offset)
        c = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([c ^ (1 << bit)]))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_log_reports_a_damaged_old_manifest(tmp_path, damage):
    path = tmp_path / "b"
    manifests = history(path)
    good = [c["id"] for c in octavo.open(path).commits()]
    victim = path / "manifests" / manifests[1]
    if damage == "flip":
        flip(victim, os.path.getsize(victim) // 2, 3)
    else:
        os.truncate(victim, 0 if damage == "empty" else os.path.getsize(victim) // 2)
    b = octavo.open(path)  # the newest commit is intact
    assert [n.path for n in b.walk_nodes("/")][-1] == "/g3"
    with pytest.raises(octavo.CorruptionError, match=manifests[1]) as e:
        b.commits()   # before: silently listed every commit but the damaged one
    assert "gc --keep-last" in str(e.value)
    assert_fails(run("log", path, check=False), 5, manifests[1], "damaged")
    with pytest.raises(octavo.CorruptionError):
        octavo.open(path, commit=1)
    # the fix the message offers: drop the history up to the damaged commit
    with octavo.open(path, "a") as w:
        w.collect_garbage(keep_last=len(good) - 2)
    assert [c["id"] for c in octavo.open(path).commits()] == good[2:]
    assert [c["id"] for c in run_json("log", path)["commits"]] == good[2:][::-1]


def test_history_trimmed_by_gc_is_not_damage(tmp_path):
    path = tmp_path / "b"
    history(path, 6)
    with octavo.open(path, "a") as b:
        b.create_snapshot("keep", commit=2)
        b.collect_garbage(keep_last=2)
        assert [c["id"] for c in b.commits()] == [2, 5, 6]
    assert [c["id"] for c in run_json("log", path)["commits"]] == [6, 5, 2]
    with pytest.raises(octavo.NotFoundError, match="garbage collection"):
        octavo.open(path, commit=3)


def test_a_manifest_renamed_over_another_commit_is_damage(tmp_path):
    path = tmp_path / "b"
    manifests = history(path)
    d = path / "manifests"
    os.replace(d / manifests[2], d / manifests[1])  # commit 2's manifest now named as commit 1's
    with pytest.raises(octavo.CorruptionError, match="holds commit 2, not 1"):
        octavo.open(path).commits()


def test_invalid_utf8_quoted_from_a_damaged_file_is_an_octavo_error(tmp_path):
    path = tmp_path / "b"
    with octavo.open(path, "w") as b:
        b.create_group("/g")
        b.create_snapshot("s1")
    marker = path / "OCTAVO"
    text = marker.read_bytes()
    marker.write_bytes(text.replace(b'"octavo-bundle"', b'"octavo\xf4bundle', 1))  # bad byte, broken JSON
    with pytest.raises(octavo.CorruptionError) as e:  # before: UnicodeDecodeError
        octavo.open(path)
    assert "\\xf4" in str(e.value) and "OCTAVO" in str(e.value)
    marker.write_bytes(text)
    snap = path / "snapshots" / "s1.json"
    raw = snap.read_bytes()
    i = raw.index(b'"commit"')
    snap.write_bytes(raw[:i] + b'"\xba' + raw[i + 2:])
    with pytest.raises(octavo.CorruptionError):
        octavo.open(path, snapshot="s1")
    r = run("log", path, check=False)  # the CLI prints the same escaped message
    assert r.returncode in (0, 5)


BAD = "a\udcff"  # os.fsdecode of a non-UTF-8 byte: not encodable as UTF-8


def test_names_that_are_not_unicode_are_invalid_argument_everywhere(tmp_path):
    path = tmp_path / "b"
    b = octavo.open(path, "w")
    b.create_table("/t", pa.table({"a": [1, 2]}))
    b.create_group("/g")
    t = b["/t"]
    calls = {
        "create_group": lambda: b.create_group(BAD),
        "create_group name": lambda: b.create_group("/", BAD),
        "create_table": lambda: b.create_table("/" + BAD, pa.table({"a": [1]})),
        "column": lambda: b.create_table("/t2", {BAD: [1]}),
        "read columns": lambda: t.read(columns=[BAD]),
        "where": lambda: t.read_where(f"{BAD} > 0"),
        "create_index": lambda: t.create_index(BAD),
        "remove_index": lambda: t.remove_index(BAD),
        "sort_by": lambda: t.sort_by(BAD),
        "repack": lambda: t.repack(sort_by=[BAD]),
        "attr key": lambda: b["/g"].attrs.__setitem__(BAD, 1),
        "attr value": lambda: b["/g"].attrs.__setitem__("k", BAD),
        "snapshot": lambda: b.create_snapshot(BAD),
        "snapshot message": lambda: b.create_snapshot("s", BAD),
        "open snapshot": lambda: octavo.open(path, snapshot=BAD),
        "open path": lambda: octavo.open(str(tmp_path / BAD)),
        "create_array": lambda: octavo.array.create_array(b, "/" + BAD, np.zeros(3)),
        "bundle.create_array": lambda: b.create_array("/" + BAD, np.zeros(3)),
        "create_file": lambda: b.create_file("/" + BAD),
        "put_file": lambda: b.put_file(str(tmp_path / BAD), "/f"),
        "get_file": lambda: b.get_file("/f", str(tmp_path / BAD)),
        "rename": lambda: b.rename_node("/g", BAD),
        "soft link": lambda: b.create_soft_link("/l", target="/" + BAD),
        "transaction message": lambda: b.transaction(BAD).__enter__().__exit__(None, None, None),
    }
    wrong = {}
    for what, call in calls.items():
        try:
            call()
            wrong[what] = "no error"
        except octavo.InvalidArgumentError:
            pass
        except Exception as e:  # noqa: BLE001 - anything else is the bug
            wrong[what] = f"{type(e).__module__}.{type(e).__name__}: {str(e)[:80]}"
    assert not wrong, wrong
    assert [n.path for n in b.walk_nodes("/")] == ["/", "/g", "/t"]  # nothing was made
    b.close()


HUGE = [None, 0, 3, -3, 9, 10, 11, 2**62, -2**62, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, -2**64]


def test_array_slices_with_huge_bounds_and_steps_match_numpy(tmp_path):
    b = octavo.open(tmp_path / "b", "w")
    ref = np.arange(10)
    a = b.create_array("/a", ref, chunks=(4,))
    steps = [None, 1, 2, -1, -3, 9, 10, 11, 2**62, -2**62, 2**63 - 1, -2**63, 2**63, 2**64, -2**64]
    wrong = {}
    for start in HUGE:
        for stop in HUGE:
            for step in steps:
                k = slice(start, stop, step)
                try:
                    got = a[k]
                except Exception as e:  # noqa: BLE001
                    got = f"{type(e).__module__}.{type(e).__name__}: {e}"
                if not isinstance(got, np.ndarray) or not np.array_equal(got, ref[k]):
                    wrong[str(k)] = got
    assert not wrong, list(wrong.items())[:5]
    with pytest.raises(ValueError):  # numpy: "slice step cannot be zero"
        a[::0]
    for i in (2**62, -2**63, 2**64, 10, -11):
        with pytest.raises(octavo.errors.OctavoIndexError):
            a[i]
    b.close()


def test_table_rows_with_huge_or_negative_bounds_match_python_slices(tmp_path):
    b = octavo.open(tmp_path / "b", "w")
    n = 10
    t = b.create_table("/t", pa.table({"x": np.arange(n)}), options={"row_group_size": 3})
    ref = list(range(n))
    wrong = {}
    for start in HUGE:
        for stop in HUGE:
            want = ref[start:stop]
            got = {}
            for how, read in {
                "read": lambda: t.read(start, stop, return_type="arrow")["x"].to_pylist(),
                "slice": lambda: t[start:stop]["x"].to_pylist(),
                "iter_batches": lambda: [v for bt in t.iter_batches(4, start=start, stop=stop, return_type="arrow")
                                         for v in bt["x"].to_pylist()],
                "read_where": lambda: t.read_where("x >= 0", start=start, stop=stop,
                                                   return_type="arrow")["x"].to_pylist(),
                "get_where_list": lambda: list(t.get_where_list("x >= 0", start=start, stop=stop)),
            }.items():
                try:
                    got[how] = read()
                except Exception as e:  # noqa: BLE001
                    got[how] = f"{type(e).__name__}: {e}"
                if got[how] != want:
                    wrong[(start, stop, how)] = got[how]
    assert not wrong, list(wrong.items())[:8]
    with pytest.raises(octavo.InvalidArgumentError):
        t[::2]
    b.close()


def test_metadata_files_with_wrong_json_types_are_corruption(tmp_path):
    """Well-formed JSON of the wrong shape (hand-written, or from an old or foreign writer;
    unsealed files are accepted as pre-checksum ones) is CorruptionError, never a RuntimeError
    escaping nlohmann or a float converted to an integer (undefined behaviour)."""
    path = tmp_path / "b"
    with octavo.open(path, "w") as b:
        b.create_group("/g")
        b.create_snapshot("s1")
    marker, current = path / "OCTAVO", path / "CURRENT"
    snap = path / "snapshots" / "s1.json"
    good = {f: f.read_bytes() for f in (marker, current, snap)}
    cur = json.loads(good[current][:good[current].rindex(b',\n "checksum"')] + b"}")
    cases = [(marker, t) for t in ('{"format_version": "2"}', "[]", "3", '{"format_version": 1e300}',
                                   '{"format_version": 2.0}')]
    cases += [(current, json.dumps({**cur, k: v})) for k, v in
              (("commit", 1e300), ("size", "12"), ("crc32", 2.5), ("commit", None))]
    cases += [(snap, t) for t in ('{"commit": 1, "message": 5}', '{"commit": 1, "created_at": []}',
                                  '{"commit": 1e300}')]
    wrong = {}
    for f, text in cases:
        f.write_text(text)
        try:
            octavo.open(path, snapshot="s1" if f == snap else None)
            wrong[(f.name, text)] = "opened"
        except octavo.CorruptionError:
            pass
        except Exception as e:  # noqa: BLE001
            wrong[(f.name, text)] = f"{type(e).__module__}.{type(e).__name__}: {e}"
        f.write_bytes(good[f])
    assert not wrong, wrong
    octavo.open(path, snapshot="s1").close()
    marker.write_text('{"format_version": 18446744073709551615}')  # newer than any octavo: said as is
    with pytest.raises(octavo.UnsupportedVersionError, match="version 18446744073709551615 "):
        octavo.open(path)


def unsealed(raw: bytes) -> dict:
    return json.loads(raw[:raw.rindex(b',\n "checksum"')] + b"}")


def sealed(obj: dict) -> bytes:
    """As octavo's SealJson writes it (docs/format.md 4.0): a forger can always do this."""
    import zlib
    body = json.dumps(obj).encode()[:-1] + b',\n "checksum": "crc32:'
    return body + b"%08x" % zlib.crc32(body) + b'"\n}\n'


def test_table_options_that_are_not_integers_are_corruption(tmp_path):
    """A hand-written (unsealed) manifest whose table options hold floats: converting 1e300 to
    an integer was undefined behaviour; now CorruptionError naming the option."""
    import zlib
    path = tmp_path / "b"
    with octavo.open(path, "w") as b:
        b.create_table("/t", pa.table({"x": [1, 2]}))
    cur = unsealed((path / "CURRENT").read_bytes())
    mfile = path / cur["manifest"]
    good = unsealed(mfile.read_bytes())
    for key, value in (("row_group_size", 1e300), ("compression_level", 2**40), ("data_page_size", "big"),
                       ("part_max_rows", 2**64 - 1)):
        m = json.loads(json.dumps(good))
        m["nodes"]["/t"]["table"]["options"][key] = value
        text = sealed(m)
        mfile.write_bytes(text)
        (path / "CURRENT").write_text(json.dumps({**cur, "size": len(text), "crc32": zlib.crc32(text)}))
        with pytest.raises(octavo.CorruptionError, match=key):
            octavo.open(path)["/t"].read()
