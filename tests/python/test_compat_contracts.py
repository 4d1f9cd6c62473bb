"""Contracts DataFolio and DeepLabCut code relies on (issue 20): missing items are KeyErrors,
migrate_h5_to_parquet returns a count, read_dataframe never serves a stale .parquet, HDF5 and
CSV writes, and every refusal is octavo's own error saying what to do."""
import os
import time

import numpy as np
import pandas as pd
import pytest

import octavo
from octavo import fileio


def frame(seed: int = 0, n: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.random(n), "y": rng.integers(0, 9, n)})


# --- DataFolio: missing items ----------------------------------------------------------------

def test_missing_table_is_a_key_error(bundle):
    with pytest.raises(KeyError) as e:
        bundle.get_table("missing")
    assert isinstance(e.value, octavo.NotFoundError) and isinstance(e.value, LookupError)
    assert "missing" in str(e.value) and str(e.value) == e.value.args[0]  # not KeyError's quoting
    with pytest.raises(KeyError):
        bundle["/nope"]


def test_negative_limit_is_refused_with_octavo_error(bundle):
    bundle.add_table("t", frame())
    for kwargs in ({"limit": -1}, {"limit": -1, "where": "y >= 0"}):
        with pytest.raises(octavo.InvalidArgumentError, match="limit must be >= 0"):
            bundle.get_table("t", **kwargs)
    assert len(bundle.get_table("t", limit=2)) == 2
    assert len(bundle.get_table("t", where="y >= 0", limit=2)) == 2


def test_closed_bundle_refuses_reads(bundle_path):
    b = octavo.open(bundle_path, "w")
    b.add_table("t", frame())
    t = b.table("t")
    b.close()
    for call in (lambda: b.get_table("t"), lambda: t.read(), lambda: b.root.keys(), lambda: b["/t"],
                 lambda: t.num_rows):
        with pytest.raises(octavo.ClosedBundleError, match="closed"):
            call()
    b.close()  # closing twice is fine


def test_unsupported_object_store_urls_are_refused_not_made_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (s3:// works: tests/python/test_s3.py)
    with pytest.raises(octavo.OctavoError, match="object stores"):
        octavo.open("gs://bucket/data.octavo", "a")
    assert not os.path.exists(tmp_path / "gs:")


def test_opening_an_hdf5_file_suggests_import(tmp_path):
    p = tmp_path / "x.h5"
    frame().to_hdf(p, key="df", mode="w")
    with pytest.raises(octavo.InvalidArgumentError, match="import_h5"):
        octavo.open(str(p), "a")


# --- DeepLabCut fileio ---------------------------------------------------------------------------

def test_migrate_returns_the_number_converted(tmp_path):
    for i in range(3):
        frame(i).to_hdf(tmp_path / f"f{i}.h5", key="df_with_missing", format="table", mode="w")
    converted_count = fileio.migrate_h5_to_parquet(str(tmp_path), recursive=True, remove_h5=False)
    assert f"Converted {converted_count} files" == "Converted 3 files"
    assert converted_count == 3 and isinstance(converted_count, int)
    assert len(converted_count["converted"]) == 3 and converted_count["failed"] == {}
    again = fileio.migrate_h5_to_parquet(str(tmp_path))
    assert again == 0 and len(again["skipped"]) == 3


def test_read_dataframe_never_serves_a_stale_parquet(tmp_path):
    h5 = tmp_path / "CollectedData.h5"
    frame(1).to_hdf(h5, key="df_with_missing", format="table", mode="w")
    pd.testing.assert_frame_equal(fileio.read_dataframe(h5), frame(1))
    assert (tmp_path / "CollectedData.parquet").exists()
    pd.testing.assert_frame_equal(fileio.read_dataframe(h5), frame(1))  # served from the .parquet
    time.sleep(0.01)
    frame(2, 7).to_hdf(h5, key="df_with_missing", format="table", mode="w")  # the .h5 changes
    pd.testing.assert_frame_equal(fileio.read_dataframe(h5), frame(2, 7))
    # a migrated file is current until its .h5 changes too
    fileio.migrate_h5_to_parquet(str(h5), overwrite=True)
    pd.testing.assert_frame_equal(fileio.read_dataframe(h5), frame(2, 7))
    frame(3, 4).to_hdf(h5, key="df_with_missing", format="table", mode="w")
    pd.testing.assert_frame_equal(fileio.read_dataframe(h5), frame(3, 4))


def test_written_parquet_wins_over_an_older_h5(tmp_path):
    h5 = tmp_path / "d.h5"
    frame(1).to_hdf(h5, key="df_with_missing", format="table", mode="w")
    time.sleep(0.01)
    fileio.write_dataframe(frame(5), h5)  # new data: x.parquet, newer than the .h5
    pd.testing.assert_frame_equal(fileio.read_dataframe(h5), frame(5))


def test_write_dataframe_hdf5_through_pandas(tmp_path):
    out = fileio.write_dataframe(frame(4), tmp_path / "output.h5", format="hdf5")
    assert out == tmp_path / "output.h5"
    pd.testing.assert_frame_equal(pd.read_hdf(out, key="df_with_missing"), frame(4))
    with pytest.raises(octavo.InvalidArgumentError):
        fileio.write_dataframe(frame(), tmp_path / "o.h5", format="xls")


def test_csv_paths_and_round_trips(tmp_path):
    df = frame(6)
    out = fileio.write_dataframe(df, tmp_path / "a.csv")
    assert out.suffix == ".csv"
    pd.testing.assert_frame_equal(fileio.read_dataframe(out), df)
    s = pd.Series([1.5, 2.5], name="speed")
    pd.testing.assert_series_equal(fileio.read_dataframe(fileio.write_dataframe(s, tmp_path / "s.parquet")), s)
    pl = pytest.importorskip("polars")
    pf = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    back = fileio.read_dataframe(fileio.write_dataframe(pf, tmp_path / "p.parquet"))
    assert isinstance(back, pl.DataFrame) and back.equals(pf)
    with pytest.raises(octavo.NotFoundError):
        fileio.read_dataframe(tmp_path / "none.parquet")
    with pytest.raises(octavo.InvalidArgumentError, match="unsupported file type"):
        fileio.read_dataframe(tmp_path / "x.xlsx")


def test_kind_messages_use_the_right_article(bundle):
    bundle.create_array("/arr", np.arange(3))
    for call in (lambda: bundle.table("/arr"), lambda: bundle.get_link("/arr"), lambda: bundle.create_group("/arr/g")):
        with pytest.raises(octavo.OctavoError) as e:
            call()
        assert "an array" in str(e.value) and "a array" not in str(e.value), str(e.value)


def test_notebook_html(bundle):
    bundle.add_table("t", frame(n=8))
    bundle.create_array("/a", np.arange(100.0))
    t = bundle.table("t")._repr_html_()
    assert "8 rows" in t and "<th>x</th>" in t and "first 5 rows" in t
    a = bundle["/a"]._repr_html_()
    assert "(100,)" in a and "float64" in a and "ratio" in a
    assert "/t" in bundle._repr_html_()


def test_add_data_and_get_table_version(bundle, tmp_path):
    bundle.add_data("results", frame(1))
    v = bundle.commit["id"]
    bundle.add_data("results", frame(2, 3), overwrite=True)
    pd.testing.assert_frame_equal(bundle.get_table("results", version=v), frame(1))
    assert len(bundle.get_table("results")) == 3
    arr = bundle.add_data("arr", np.arange(4))
    assert arr[:].tolist() == [0, 1, 2, 3]
    bundle.add_data("arr", np.zeros(2), overwrite=True)
    assert bundle["/arr"].shape == (2,)
    assert bundle.add_data("blob", b"abc").read() == b"abc"
    (tmp_path / "notes.txt").write_bytes(b"hi")
    assert bundle.add_data("notes", tmp_path / "notes.txt").read() == b"hi"
    with pytest.raises(octavo.InvalidArgumentError):
        bundle.add_data("bad", str(tmp_path / "missing.txt"))


def test_get_table_timestamp(bundle):
    """DataFolio's get_table(name, timestamp=...): the newest commit made at or before it."""
    bundle.add_data("events", frame(1))
    first = bundle.commit
    time.sleep(0.01)
    bundle.add_data("events", frame(2, 3), overwrite=True)
    pd.testing.assert_frame_equal(bundle.get_table("events", timestamp=first["created_at"]), frame(1))
    just_after = pd.Timestamp(first["created_at"]) + pd.Timedelta(microseconds=1)
    assert bundle.commit_at(just_after) == first["id"]
    assert bundle.commit_at(just_after.tz_convert("Europe/Berlin")) == first["id"]  # the same instant
    assert bundle.commit_at(just_after.tz_localize(None)) == first["id"]  # naive = UTC
    assert len(bundle.get_table("events", timestamp=pd.Timestamp.now(tz="UTC"))) == 3
    with pytest.raises(octavo.NotFoundError, match="no commit at or before"):
        bundle.get_table("events", timestamp="2000-01-15")
    with pytest.raises(octavo.InvalidArgumentError, match="not a date"):
        bundle.get_table("events", timestamp="yesterday-ish")
    with pytest.raises(octavo.InvalidArgumentError, match="not both"):
        bundle.get_table("events", version=1, timestamp="2000-01-15")


def test_bad_arguments_raise_octavo_errors(bundle):
    """Found by probing the public API with wrong values: each was a raw ValueError, a
    nanobind TypeError, a RecursionError or a leaked JSON parser message."""
    bundle.add_data("t", frame(1))
    g = bundle.create_group("/g")
    with pytest.raises(octavo.InvalidArgumentError, match="start must be an integer"):
        bundle.table("/t").read("a")
    with pytest.raises(octavo.InvalidArgumentError, match="offset must be an integer"):
        bundle.get_table("t", offset="a")
    with pytest.raises(octavo.InvalidArgumentError, match="limit must be an integer"):
        bundle.get_table("t", limit=2.5)
    assert len(bundle.get_table("t", offset=np.int64(0), limit=np.int32(1))) == 1
    with pytest.raises(octavo.SchemaError, match="cannot store a list"):
        bundle.add_table("bad", [1, 2, 3])
    with pytest.raises(TypeError):  # still a TypeError for code that caught one
        bundle.add_table("bad", [1, 2, 3])
    with pytest.raises(octavo.InvalidArgumentError, match="attribute names on /g are strings"):
        g.attrs[5] = 1
    deep: list = []
    x = deep
    for _ in range(5000):
        x.append([])
        x = x[0]
    with pytest.raises(octavo.InvalidArgumentError, match="nested too deeply"):
        g.attrs["deep"] = deep


def test_non_finite_float_attributes_round_trip(bundle):
    g = bundle.create_group("/g")
    g.attrs["nan"] = float("nan")
    g.attrs["lims"] = [float("-inf"), 1.5, float("inf")]
    assert np.isnan(g.attrs["nan"]) and isinstance(g.attrs["nan"], float)
    assert g.attrs["lims"] == [float("-inf"), 1.5, float("inf")]
