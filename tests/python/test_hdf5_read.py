"""pandas HDFStore files (written here with pandas/PyTables) read by octavo's C++ reader."""
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import octavo
from octavo import fileio

pytest.importorskip("tables")
warnings.filterwarnings("ignore")


def dlc3(n=5, missing=True):
    cols = pd.MultiIndex.from_product([["DLC_resnet50"], ["nose", "tail", "ear"], ["x", "y", "likelihood"]],
                                      names=["scorer", "bodyparts", "coords"])
    df = pd.DataFrame(np.random.default_rng(0).random((n, len(cols))), columns=cols)
    if missing and n > 2:
        df.iloc[1, 2] = np.nan
        df.iloc[2, :3] = np.nan
    return df


def dlc4(n=4):
    cols = pd.MultiIndex.from_product([["sc"], ["ind1", "ind2"], ["nose", "tail"], ["x", "y"]],
                                      names=["scorer", "individuals", "bodyparts", "coords"])
    return pd.DataFrame(np.arange(n * len(cols), dtype=float).reshape(n, -1), columns=cols)


def dlc_rows():
    idx = pd.MultiIndex.from_tuples([("labeled-data", "vid1", f"img{i:03d}.png") for i in range(3)])
    df = dlc3(3)
    df.index = idx
    return df


def mixed(n=4):
    return pd.DataFrame({
        "i": np.arange(n, dtype=np.int64),
        "u8": np.arange(n, dtype=np.uint8),
        "f32": np.linspace(0, 1, n, dtype=np.float32),
        "f": [1.5, np.nan, 3.0, -0.0][:n],
        "b": [True, False, True, False][:n],
        "s": ["x", None, "zz", "nan"][:n],
        "uni": ["é", "日本", "", "ü"][:n],
        "t": pd.to_datetime(["2020-01-01", None, "2021-05-06T07:08:09", "1970-01-01"][:n], format="ISO8601"),
        "tz": pd.date_range("2020-03-01", periods=n, tz="Europe/Paris"),
        "td": pd.to_timedelta([1, 2, None, 4][:n], unit="s"),
    }, index=pd.Index([10, 20, 30, 40][:n], name="myidx"))


def check(path, key=None):
    ref = pd.read_hdf(path, key)
    table = fileio.read_h5_arrow(path, key)
    got = fileio._arrow_to_pandas(table)
    if isinstance(ref, pd.Series):
        pd.testing.assert_series_equal(got, ref)
    else:
        # a DatetimeIndex freq is not representable in Arrow/Parquet (pyarrow drops it too)
        pd.testing.assert_frame_equal(got, ref, check_freq=False)
    return table


CASES = {
    "dlc3": dlc3, "dlc4": dlc4, "mixed": mixed,
    "unicode_labels": lambda: pd.DataFrame({"größe": [1.0, 2.0], "名前": ["a", "b"]}),
    "str_index": lambda: pd.DataFrame({"v": [1, 2, 3]}, index=["a", "b", "ü"]),
    "float_index": lambda: pd.DataFrame({"v": [1, 2]}, index=[0.5, 1.5]),
    "int_cols": lambda: pd.DataFrame(np.ones((2, 3)), columns=[0, 1, 2]),
    "dt_index": lambda: pd.DataFrame({"v": [1.0, 2.0]}, index=pd.date_range("2021", periods=2, name="when")),
}


@pytest.mark.parametrize("fmt", ["table", "fixed"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_frames_match_read_hdf(tmp_path, case, fmt):
    df = CASES[case]()
    p = tmp_path / f"{case}.h5"
    df.to_hdf(p, key="df_with_missing", format=fmt, mode="w")
    check(p)


def test_dlc_row_multiindex_fixed(tmp_path):
    p = tmp_path / "CollectedData_me.h5"
    dlc_rows().to_hdf(p, key="df_with_missing", format="fixed", mode="w")
    check(p)


def test_row_multiindex_table(tmp_path):
    idx = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["k", None])
    df = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": list("pqrs")}, index=idx)
    p = tmp_path / "mi.h5"
    df.to_hdf(p, key="df", format="table", mode="w")
    check(p)


def test_categorical_and_data_columns(tmp_path):
    df = pd.DataFrame({"c": pd.Categorical(["u", "v", None, "u"]), "o": pd.Categorical(["a", "b", "a", "b"], ordered=True),
                       "a": [1, 2, 3, 4], "s": ["p", "q", None, "r"]})
    p = tmp_path / "cat.h5"
    df.to_hdf(p, key="df", format="table", mode="w", data_columns=["a", "s"])
    check(p)


@pytest.mark.parametrize("fmt", ["table", "fixed"])
def test_series(tmp_path, fmt):
    p = tmp_path / "s.h5"
    pd.Series([1.0, np.nan, 3.0], name="sname", index=["a", "b", "c"]).to_hdf(p, key="s", format=fmt, mode="w")
    check(p)


def test_empty_frames(tmp_path):
    p = tmp_path / "empty.h5"
    dlc3(0, missing=False).to_hdf(p, key="df_with_missing", format="fixed", mode="w")
    check(p)


def test_zlib_compressed(tmp_path):
    p = tmp_path / "z.h5"
    dlc3(50).to_hdf(p, key="df_with_missing", format="table", mode="w", complevel=5, complib="zlib")
    check(p)
    p2 = tmp_path / "z2.h5"
    dlc3(50).to_hdf(p2, key="df_with_missing", format="fixed", mode="w", complevel=5, complib="zlib")
    check(p2)


def test_blosc_names_the_filter(tmp_path):
    p = tmp_path / "blosc.h5"
    dlc3(50).to_hdf(p, key="df_with_missing", format="table", mode="w", complevel=5, complib="blosc")
    with pytest.raises(octavo.OctavoError, match=r"blosc.*blosc\.h5|blosc\.h5.*blosc"):
        fileio.read_h5_arrow(p)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_file_is_a_clear_error(tmp_path, fraction):
    p = tmp_path / "t.h5"
    dlc3(2000).to_hdf(p, key="df_with_missing", format="table", mode="w")
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(octavo.OctavoError) as ei:
        fileio.read_h5_arrow(p, "df_with_missing")
    assert "t.h5" in str(ei.value)


def test_not_hdf5_and_missing(tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(octavo.CorruptionError, match="not an HDF5 file"):
        fileio.read_h5_arrow(p)
    with pytest.raises(octavo.NotFoundError):
        fileio.read_h5_arrow(tmp_path / "nope.h5")


def test_listing_reports_unsupported(tmp_path):
    import tables

    p = tmp_path / "many.h5"
    dlc3().to_hdf(p, key="a", format="table", mode="w")
    dlc3().to_hdf(p, key="grp/b", format="fixed", mode="a")
    with tables.open_file(p, "a") as f:
        f.create_array("/", "raw", np.arange(5))
    objs = {o["key"]: o for o in fileio.list_h5(p)}
    assert objs["/a"]["supported"] and objs["/grp/b"]["supported"]
    assert not objs["/raw"]["supported"] and "not a pandas object" in objs["/raw"]["note"]
    with pytest.raises(octavo.InvalidArgumentError, match="several pandas objects"):
        fileio.read_h5_arrow(p)
    check(p, "/grp/b")
    rep = fileio.migrate_h5_to_parquet(tmp_path)
    assert str(p) in rep["failed"] and "/raw" in rep["failed"][str(p)]


def test_read_dataframe_writes_parquet_equal_to_read_hdf(tmp_path):
    p = tmp_path / "CollectedData_me.h5"
    dlc_rows().to_hdf(p, key="df_with_missing", format="fixed", mode="w")
    ref = pd.read_hdf(p)
    got = fileio.read_dataframe(p)
    pd.testing.assert_frame_equal(got, ref)
    pq_path = tmp_path / "CollectedData_me.parquet"
    assert pq_path.exists() and fileio.get_dataframe_path(p) == pq_path
    pd.testing.assert_frame_equal(pd.read_parquet(pq_path), ref)
    # the parquet wins now, even if the h5 disappears
    p.unlink()
    pd.testing.assert_frame_equal(fileio.read_dataframe(p), ref)


@pytest.mark.parametrize("fmt", ["table", "fixed"])
def test_migrate(tmp_path, fmt):
    (tmp_path / "sub").mkdir()
    frames = {"a.h5": dlc3(), "sub/b.h5": dlc4(), "sub/c.h5": mixed()}
    for name, df in frames.items():
        df.to_hdf(tmp_path / name, key="df_with_missing", format=fmt, mode="w")
    refs = {name: pd.read_hdf(tmp_path / name) for name in frames}
    rep = fileio.migrate_h5_to_parquet(tmp_path, remove_h5=True)
    assert not rep["failed"], rep
    assert len(rep["converted"]) == 3
    for name, ref in refs.items():
        assert not (tmp_path / name).exists()
        pd.testing.assert_frame_equal(pd.read_parquet((tmp_path / name).with_suffix(".parquet")), ref)


def test_write_dataframe_h5_path_writes_parquet(tmp_path):
    df = dlc4()
    out = fileio.write_dataframe(df, tmp_path / "x.h5")
    assert out == tmp_path / "x.parquet" and not (tmp_path / "x.h5").exists()
    pd.testing.assert_frame_equal(fileio.read_dataframe(tmp_path / "x.h5"), df)


def test_parquet_helpers(tmp_path):
    from octavo import parquet

    df = mixed()
    p = tmp_path / "m.parquet"
    parquet.write_parquet(df, p)
    pd.testing.assert_frame_equal(parquet.read_parquet(p), df)
    assert parquet.read_parquet(p, columns=["i"], return_type="arrow").column_names[0] == "i"
    assert parquet.read_parquet_schema(p).field("f").type == pa.float64()
    assert parquet.read_parquet(p, return_type="polars").shape[0] == len(df)
    assert parquet.read_parquet_lazy(p, columns=["i"]).collect().shape == (len(df), 1)
