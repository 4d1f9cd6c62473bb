"""String conditions (issue 17): contains / startswith / endswith / LIKE / ILIKE / match, equal
to pandas' str methods, with startswith and LIKE 'prefix%' pruning parts by min/max."""
import numpy as np
import pandas as pd
import pytest

import octavo


@pytest.fixture
def hosts(bundle):
    rng = np.random.default_rng(7)
    names = np.array(["glidein-001.chtc", "node7.wisc.edu", "gpu-a100-3", "GPU-h100-1", None, "e2e_Node"], dtype=object)
    for k in range(3):
        df = pd.DataFrame({"host": names[rng.integers(0, len(names), 500)], "v": np.arange(500) + 500 * k})
        bundle.append_table("h", df.sort_values("host", na_position="last"))
    return bundle.get_table("h", return_type="pandas")


@pytest.mark.parametrize("cond,expect", [
    ("contains(host, 'glidein')", lambda s: s.str.contains("glidein", regex=False)),
    ("startswith(host, 'gpu')", lambda s: s.str.startswith("gpu")),
    ("endswith(host, '.edu')", lambda s: s.str.endswith(".edu")),
    ("host LIKE 'gpu-%'", lambda s: s.str.startswith("gpu-")),
    ("host ILIKE 'gpu-%'", lambda s: s.str.lower().str.startswith("gpu-")),
    ("host LIKE 'e2e\\_%'", lambda s: s.str.startswith("e2e_")),
    ("host NOT LIKE '%1'", lambda s: ~s.str.endswith("1").fillna(False).astype(bool)),
    ("match(host, '^[a-z]+[0-9]\\.')", lambda s: s.str.contains(r"^[a-z]+[0-9]\.", regex=True)),
    ("contains(host, 'a100') | (v < 3)", None),
])
def test_matches_pandas(bundle, hosts, cond, expect):
    got = bundle.get_table("h", where=cond, return_type="pandas")
    s = hosts["host"]
    if expect is None:
        mask = s.str.contains("a100", regex=False).fillna(False).astype(bool) | (hosts["v"] < 3)
    else:
        mask = expect(s).fillna(False).astype(bool) if cond.find("NOT") < 0 else expect(s)
    want = hosts[mask]
    assert got["v"].tolist() == want["v"].tolist(), cond


def test_startswith_prunes_and_errors(bundle, hosts):
    t = bundle.table("h")
    t.read_where("startswith(host, 'zzz')")
    assert t.last_query_stats["row_groups_skipped"] == t.last_query_stats["row_groups_total"]
    with pytest.raises(octavo.OctavoError, match="needs strings"):
        t.read_where("contains(v, 'x')")
    with pytest.raises(octavo.OctavoError, match="string literal"):
        t.read_where("startswith(host, v)")
