"""Node operations: rename, move, copy (metadata only), soft links, transactions."""
import os

import numpy as np
import pyarrow as pa
import pytest

import octavo


def files_under(path):
    """Data files (a table's Delta log, metadata derived from the manifests, is not counted)."""
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(path, "data")) for f in fs
                  if "_delta_log" not in d)


def test_rename_and_move_keep_data_and_attrs(bundle):
    t = bundle.create_table("/a/t", data=pa.table({"x": np.arange(10)}))
    t.attrs["units"] = "m"
    bundle.create_group("/a/sub")
    before = files_under(bundle.path)
    bundle.rename_node("/a", "b")
    assert "/a" not in bundle and "/b/t" in bundle and "/b/sub" in bundle
    assert bundle["/b/t"].attrs["units"] == "m"
    bundle.move_node("/b/t", "/c", "moved")
    assert bundle.get_table("/c/moved", return_type="arrow").column("x").to_pylist() == list(range(10))
    assert files_under(bundle.path) == before  # no data file touched
    with pytest.raises(octavo.AlreadyExistsError):
        bundle.move_node("/b/sub", "/c", "moved")
    with pytest.raises(octavo.InvalidArgumentError, match="into itself"):
        bundle.move_node("/b", "/b/sub", "x")
    with pytest.raises(octavo.NotFoundError):
        bundle.rename_node("/nope", "x")


def test_copy_shares_data_files_and_diverges_on_append(bundle):
    data = pa.table({"x": np.arange(1000)})
    bundle.create_table("/g/t", data=data)
    bundle["/g"].attrs["k"] = 1
    n_files = len(files_under(bundle.path))
    copy = bundle.copy_node("/g", newname="g2")
    assert len(files_under(bundle.path)) == n_files  # metadata only
    assert bundle["/g2"].attrs["k"] == 1
    assert bundle["/g2/t"].part_paths == bundle["/g/t"].part_paths
    bundle["/g2/t"].append(pa.table({"x": np.arange(5)}))
    assert bundle["/g2/t"].num_rows == 1005 and bundle["/g/t"].num_rows == 1000
    assert isinstance(copy, octavo.Group)


def test_soft_links_resolve_dangle_and_loop(bundle):
    bundle.create_table("/data/readout", data=pa.table({"x": [1, 2, 3]}))
    link = bundle.create_soft_link("/latest", "/data/readout")
    assert isinstance(link, octavo.SoftLink) and link.target == "/data/readout"
    assert bundle["/latest"].num_rows == 3          # resolved on access
    assert bundle.get_table("latest", return_type="arrow").num_rows == 3
    assert [n.kind for n in bundle.root] == ["group", "link"]  # listed as a link
    bundle.create_soft_link("/d", "/data")
    assert bundle["/d/readout"].num_rows == 3       # links inside paths
    bundle.create_soft_link("/dangling", "/not/there")
    assert bundle.get_link("/dangling").is_dangling()
    with pytest.raises(octavo.NotFoundError, match="dangling"):
        bundle["/dangling"]
    bundle.create_soft_link("/loop1", "/loop2")
    bundle.create_soft_link("/loop2", "/loop1")
    with pytest.raises(octavo.InvalidArgumentError, match="loop"):
        bundle["/loop1"]
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_soft_link("/bad", "/a/../b")


def test_transaction_is_one_commit_and_aborts_on_error(bundle):
    start = bundle.commit["id"]
    with bundle.transaction("setup"):
        bundle.create_group("/x")
        bundle.create_table("/x/t", data=pa.table({"v": [1.0]}))
        bundle["/x/t"].append(pa.table({"v": [2.0]}))
        bundle["/x"].attrs["note"] = "grouped"
        assert bundle["/x/t"].num_rows == 2     # visible inside the transaction
    assert bundle.commit["id"] == start + 1
    assert bundle.commit["message"] == "setup"
    with pytest.raises(RuntimeError):
        with bundle.transaction():
            bundle.remove_node("/x", recursive=True)
            raise RuntimeError("changed my mind")
    assert "/x/t" in bundle and bundle.commit["id"] == start + 1
    with octavo.open(bundle.path, "r") as r:
        assert r["/x/t"].num_rows == 2 and r["/x"].attrs["note"] == "grouped"


def test_reader_does_not_see_open_transaction(bundle):
    with bundle.transaction():
        bundle.create_group("/pending")
        with octavo.open(bundle.path, "r") as r:
            assert "/pending" not in r
    with octavo.open(bundle.path, "r") as r:
        assert "/pending" in r


# --- one commit or nothing; names must be valid Unicode (hardening: data loss) ---------

def test_create_group_with_title_is_one_commit(bundle):
    n = len(bundle.commits())
    g = bundle.create_group("/g", title="detector")
    assert len(bundle.commits()) == n + 1
    assert g.attrs["TITLE"] == "detector"
    assert bundle.commits()[-1]["message"].startswith("create group /g")


def test_create_group_with_bad_title_leaves_nothing(bundle):
    n = len(bundle.commits())
    with pytest.raises(octavo.OctavoError):
        bundle.create_group("/g", title="bad\udcff")
    assert "/g" not in bundle
    assert len(bundle.commits()) == n
    assert not bundle._native.in_transaction()


def test_attrs_update_is_one_commit_or_nothing(bundle):
    bundle.create_group("/g")
    g = bundle["/g"]
    n = len(bundle.commits())
    g.attrs.update({"a": 1, "b": 2})
    assert len(bundle.commits()) == n + 1
    with pytest.raises(octavo.OctavoError):
        g.attrs.update({"c": 3, "d": object()})  # the second value cannot be stored
    assert len(bundle.commits()) == n + 1
    assert "c" not in g.attrs


def test_lone_surrogate_names_are_invalid_argument(bundle):
    bad = "/bad\udcff"
    with pytest.raises(octavo.InvalidArgumentError, match=r"'/bad\\udcff' is not valid Unicode"):
        bundle.create_group(bad)
    with pytest.raises(octavo.InvalidArgumentError, match="not valid Unicode"):
        bundle.create_group("/", "x\udcff")
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.create_table(bad, data={"a": [1]})
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.remove_node(bad)
    with pytest.raises(octavo.InvalidArgumentError):
        bad in bundle  # noqa: B015 (the membership test itself raises)
    with pytest.raises(octavo.InvalidArgumentError, match="attribute name"):
        bundle.root.attrs["k\udcff"] = 1
    with pytest.raises(octavo.InvalidArgumentError, match="not valid Unicode"):
        bundle.root.attrs["k"] = "v\udcff"
    with pytest.raises(octavo.InvalidArgumentError, match="snapshot name"):
        bundle.create_snapshot("s\udcff")
    with pytest.raises(octavo.InvalidArgumentError, match="snapshot message"):
        bundle.create_snapshot("s", "m\udcff")
    with pytest.raises(octavo.InvalidArgumentError, match="commit message"):
        with bundle.transaction("m\udcff"):
            pass
    assert not bundle._native.in_transaction()
    assert [n.path for n in bundle.walk_nodes()] == ["/"]
