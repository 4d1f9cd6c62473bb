"""Node operations: rename, move, copy (metadata only), soft links, transactions."""
import os

import numpy as np
import pyarrow as pa
import pytest

import octavo


def files_under(path):
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(path, "data")) for f in fs)


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
