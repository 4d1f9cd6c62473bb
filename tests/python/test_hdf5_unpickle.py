"""octavo's safe C++ unpickler against pickles made by Python (protocols 0-5)."""
import math
import pickle
import random

import numpy as np
import pytest

import octavo
from octavo._octavo import unpickle

PLAIN = [
    None, True, False, 0, 1, -1, 255, 256, 65535, 65536, -(2**31), 2**31, 2**63 - 1, -(2**63),
    1.5, -0.0, float("inf"), "", "abc", "é日本\U0001F600", "back\\slash\nnew'q\"", b"", b"\x00\xff",
    [], (), {}, [1, [2, [3, (4,)]]], (1, 2), (1, 2, 3), (1, 2, 3, 4), {"a": 1, 2: "b", (1, 2): [None]},
    {"info": {1: {"names": [None, "x"], "type": "MultiIndex"}, "index": {"index_name": "idx"}}},
    [("DLC", "nose", "x"), ("DLC", "nose", "y")], list(range(1000)), "x" * 300, b"y" * 70000,
]


@pytest.mark.parametrize("proto", range(0, 6))
@pytest.mark.parametrize("i", range(len(PLAIN)))
def test_plain_values(proto, i):
    v = PLAIN[i]
    got = unpickle(pickle.dumps(v, protocol=proto))
    if proto < 3 and isinstance(v, bytes):
        # Python 3 pickles bytes as a call (bytes / _codecs.encode) below protocol 3: a
        # call we never execute, so it must come back as an opaque value, not as bytes.
        # (the unpickler may also recognise the _codecs.encode(str, "latin1") pattern).
        assert got == v or (isinstance(got, dict) and "__opaque__" in got), got
    else:
        assert got == v


@pytest.mark.parametrize("proto", range(0, 6))
def test_shared_and_nan(proto):
    shared = [1, 2]
    got = unpickle(pickle.dumps([shared, shared, float("nan")], protocol=proto))
    assert got[0] == [1, 2] and got[0] is got[1] and math.isnan(got[2])


@pytest.mark.parametrize("proto", range(0, 6))
def test_bigints_become_opaque(proto):
    assert unpickle(pickle.dumps(2**64, protocol=proto)) == {"__opaque__": "builtins.int"}
    with pytest.raises(octavo.InvalidArgumentError):
        unpickle(pickle.dumps(2**64, protocol=proto), allow_opaque=False)


@pytest.mark.parametrize("proto", range(2, 6))
def test_numpy_object_arrays(proto):
    arr = np.array(["x", None, np.nan, "zz", "é"], dtype=object)
    got = unpickle(pickle.dumps(arr, protocol=proto))
    assert got["__ndarray__"] == "|O" and got["shape"] == (5,)
    assert got["values"][0] == "x" and got["values"][1] is None and math.isnan(got["values"][2])
    arr2 = np.array([["a", "b", "c"], ["d", "e", "f"]], dtype=object).T
    got2 = unpickle(pickle.dumps(arr2, protocol=proto))
    assert got2["shape"] == (3, 2)


@pytest.mark.parametrize("proto", range(2, 6))
@pytest.mark.parametrize("dtype", ["<U3", "|S4", "<f8", "<i4", "|b1", "|u1"])
def test_numpy_typed_arrays(proto, dtype):
    base = np.array(["ab", "c", "日本"]) if dtype.startswith("<U") else np.arange(3)
    arr = base.astype(dtype) if not dtype.startswith("|S") else np.array([b"ab", b"c", b""], dtype=dtype)
    got = unpickle(pickle.dumps(arr, protocol=proto))
    assert got["__ndarray__"][1:] == arr.dtype.str[1:]
    assert got["data"] == arr.tobytes()


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/octavo_pwned",))


@pytest.mark.parametrize("proto", range(0, 6))
def test_hostile_pickles_never_execute(proto, tmp_path):
    import os

    data = pickle.dumps(Evil(), protocol=proto)
    got = unpickle(data)
    assert got["__opaque__"] in ("posix.system", "os.system", "nt.system")
    assert not os.path.exists("/tmp/octavo_pwned")
    with pytest.raises(octavo.InvalidArgumentError, match="not allowed"):
        unpickle(data, allow_opaque=False)


def test_other_objects_are_opaque():
    import collections
    import datetime

    got = unpickle(pickle.dumps({"d": datetime.date(2020, 1, 2), "c": collections.OrderedDict(a=1)}, protocol=2))
    assert got["d"] == {"__opaque__": "datetime.date"}
    assert got["c"]["__opaque__"] == "collections.OrderedDict"


@pytest.mark.parametrize("data", [
    b"", b".", b"(", b"N", b"]a.", b"\x80\x05", b"\x80\x06N.", b"X\xff\xff\xff\x7f", b"g0\n.",
    b"l.", b"0.", b"(l(l(l.", b"\x8c\x05numpy\x8c\x03abc\x93)R.", b"P1\n.", b"\x97.", b"\x82\x01.",
    b"I99999999999999999999999999\n.",
])
def test_malformed_is_error_not_crash(data):
    try:
        unpickle(data)
    except octavo.OctavoError:
        pass


def test_recursive_structure_rejected():
    lst = []
    lst.append(lst)
    with pytest.raises(octavo.InvalidArgumentError, match="recursive"):
        unpickle(pickle.dumps(lst, protocol=2))


def test_random_mutations_do_not_crash():
    rng = random.Random(1234)
    seeds = [pickle.dumps(v, protocol=p) for v in PLAIN[:30] for p in range(6) if not (p < 3 and isinstance(v, bytes))]
    seeds += [pickle.dumps(np.array(["a", None], dtype=object), protocol=p) for p in range(2, 6)]
    for _ in range(5000):
        b = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.5 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif op < 0.75 and b:
                del b[rng.randrange(len(b)):][: rng.randint(1, 8)]
            else:
                b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        try:
            unpickle(bytes(b))
        except octavo.OctavoError:
            pass
