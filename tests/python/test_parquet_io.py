"""octavo.parquet: the seed's Parquet I/O layer over files, lists of files, directories of parts
and bundle table addresses, with condition-string and tuple filters pushed down."""
import os

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import octavo
from octavo.parquet import (
    POLARS_AVAILABLE,
    ParquetReader,
    read_parquet,
    read_parquet_columns,
    read_parquet_lazy,
    read_parquet_schema,
    write_parquet,
)


def headers(n=1000, first=0):
    i = np.arange(first, first + n)
    return pd.DataFrame({"trace": i.astype(np.int64), "cdp": (i // 10).astype(np.int32),
                         "offset": (i * 0.5).astype(np.float32)})


@pytest.fixture
def sources(tmp_path):
    df = headers()
    f = tmp_path / "h.parquet"
    write_parquet(df, f)
    parts = tmp_path / "parts"
    parts.mkdir()
    files = []
    for k in range(3):
        p = parts / f"part{k}.parquet"
        pq.write_table(pa.Table.from_pandas(df.iloc[k * 400:(k + 1) * 400], preserve_index=False), p)
        files.append(str(p))
    with octavo.open(tmp_path / "exp.octavo", "a") as b:
        b.add_table("headers", df)
        b.append_table("headers", headers(0, 1000))
    return {"file": str(f), "list": files, "dir": str(parts), "bundle": f"{tmp_path}/exp.octavo:/headers"}, df


@pytest.mark.parametrize("kind", ["file", "list", "dir", "bundle"])
@pytest.mark.parametrize("use_polars", [True, False])
def test_read_every_kind_of_path(sources, kind, use_polars):
    src, df = sources
    got = read_parquet(src[kind], columns=["trace", "offset"], use_polars=use_polars)
    assert isinstance(got, pd.DataFrame) and list(got.columns) == ["trace", "offset"]
    np.testing.assert_array_equal(np.sort(got["trace"].to_numpy()), df["trace"].to_numpy())
    pl_df = read_parquet(src[kind], use_polars=use_polars, return_pandas=False)
    assert isinstance(pl_df, pl.DataFrame) and pl_df.height == len(df)
    assert read_parquet(src[kind], return_type="arrow").num_rows == len(df)


@pytest.mark.parametrize("kind", ["file", "list", "dir", "bundle"])
@pytest.mark.parametrize("use_polars", [True, False])
def test_tuple_filters(sources, kind, use_polars):
    src, df = sources
    want = df[(df.cdp < 20) & (df.trace != 5)]["trace"].to_numpy()
    got = read_parquet(src[kind], columns=["trace"], filters=[("cdp", "<", 20), ("trace", "!=", 5)],
                       use_polars=use_polars)
    np.testing.assert_array_equal(np.sort(got["trace"].to_numpy()), want)
    # OR of ANDs, and `in`
    got = read_parquet(src[kind], filters=[[("cdp", "in", [1, 2])], [("trace", "==", np.int64(999))]],
                       return_type="arrow", use_polars=use_polars)
    assert sorted(got.column("trace").to_pylist()) == list(range(10, 30)) + [999]


@pytest.mark.parametrize("kind", ["file", "list", "dir", "bundle"])
@pytest.mark.parametrize("return_type", ["pandas", "polars", "arrow"])
def test_condition_string_is_pushed_down_everywhere(sources, kind, return_type):
    src, df = sources
    cond = "(cdp >= 50) & (offset < 260) | (trace == 3)"
    got = read_parquet(src[kind], filters=cond, return_type=return_type)
    want = df[((df.cdp >= 50) & (df.offset < 260)) | (df.trace == 3)]
    got = pa.table(got) if return_type != "pandas" else pa.Table.from_pandas(got, preserve_index=False)
    assert got.column("trace").to_pylist() == want["trace"].tolist()
    assert got.column_names == ["trace", "cdp", "offset"]
    # projection, condvars-free IN, streaming in batches
    got = read_parquet(src[kind], columns=["offset"], filters="cdp in (1, 7)", return_type="arrow")
    assert got.column_names == ["offset"] and got.num_rows == 20
    chunks = list(ParquetReader(src[kind], batch_size=64, columns=["trace"], filters="trace % 2 == 0"))
    assert np.concatenate([c["trace"].to_numpy() for c in chunks]).tolist() == list(range(0, 1000, 2))
    assert [len(c) for c in chunks][:-1] == [64] * (len(chunks) - 1)
    # nothing matches: an empty frame with the columns
    empty = read_parquet(src[kind], columns=["cdp"], filters="cdp > 10000")
    assert len(empty) == 0 and list(empty.columns) == ["cdp"]


def test_condition_on_files_keeps_pandas_metadata(tmp_path):
    df = pd.DataFrame({"x": [1, 2, 3]}, index=pd.Index([10, 20, 30], name="key"))
    f = tmp_path / "i.parquet"
    df.to_parquet(f)
    got = read_parquet(str(f), filters="x >= 2")
    pd.testing.assert_frame_equal(got, df.iloc[1:])


def test_condition_on_files_bad_inputs(sources, tmp_path):
    src, df = sources
    with pytest.raises(octavo.NotFoundError, match="nope"):
        read_parquet(src["file"], filters="nope > 3")
    with pytest.raises(octavo.NotFoundError, match="columns: trace, cdp, offset"):
        read_parquet(src["list"], columns=["trace", "missing"], filters="cdp > 3")
    with pytest.raises(octavo.OctavoError, match="cdp"):
        read_parquet(src["dir"], filters="cdp == 'text'")          # a string against an int column
    # files whose types differ: refused, never cast half-way
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"trace": pa.array([1.5]), "cdp": pa.array([1], pa.int32()),
                             "offset": pa.array([0.5], pa.float32())}), other)
    with pytest.raises(octavo.SchemaError, match="same columns and types"):
        read_parquet(src["list"] + [str(other)], filters="cdp > 3")
    with pytest.raises(octavo.NotFoundError, match="does not exist"):
        read_parquet([src["file"], str(tmp_path / "gone.parquet")], filters="cdp > 3")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(octavo.NotFoundError, match="no \\*.parquet"):
        read_parquet(str(empty_dir), filters="cdp > 3")
    # a damaged file: an octavo error naming it, not a pyarrow exception
    bad = tmp_path / "bad.parquet"
    raw = bytearray(open(src["file"], "rb").read())
    raw[len(raw) // 2: len(raw) // 2 + 64] = b"\xff" * 64
    raw[-12:-8] = b"\xff\xff\xff\x7f"    # footer length beyond the file
    bad.write_bytes(bytes(raw))
    with pytest.raises(octavo.OctavoError) as e:
        read_parquet(str(bad), filters="cdp > 3")
    assert "bad.parquet" in str(e.value)


def test_condition_on_directory_skips_hidden_and_underscore_entries(sources, tmp_path):
    src, df = sources
    d = tmp_path / "parts"
    (d / "_delta_log").mkdir()
    (d / "_delta_log" / "x.parquet").write_bytes(b"not parquet")
    (d / ".hidden.parquet").write_bytes(b"not parquet")
    (d / "notes.txt").write_text("not parquet")
    got = read_parquet(str(d), columns=["trace"], filters="cdp < 3", return_type="arrow")
    assert got.column("trace").to_pylist() == list(range(30))


def test_bad_filters(sources):
    src, _ = sources
    for bad in ([("cdp", "~", 1)], [("cdp", "<")], [1, 2]):
        with pytest.raises(octavo.InvalidArgumentError):
            read_parquet(src["bundle"], filters=bad)


@pytest.mark.parametrize("kind", ["file", "list", "dir", "bundle"])
def test_schema_columns_lazy_and_reader(sources, kind):
    src, df = sources
    assert read_parquet_columns(src[kind]) == ["trace", "cdp", "offset"]
    assert read_parquet_schema(src[kind]).field("cdp").type == pa.int32()
    lf = read_parquet_lazy(src[kind], columns=["cdp"])
    assert lf.collect().shape == (len(df), 1)
    chunks = list(ParquetReader(src[kind], batch_size=300, columns=["trace"]))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    assert sorted(np.concatenate([c["trace"].to_numpy() for c in chunks])) == list(range(1000))
    with ParquetReader(src[kind], batch_size=64, filters=[("cdp", "<", 10)], return_type="polars") as r:
        assert r.num_rows == len(df)
        assert sum(c.height for c in r) == 100


def test_write_parquet_atomic_and_to_bundle(tmp_path):
    df = headers(50)
    p = tmp_path / "out.parquet"
    write_parquet(pl.from_pandas(df), p, use_polars=True)
    assert not os.path.exists(str(p) + ".tmp")
    pd.testing.assert_frame_equal(read_parquet(p), df)
    addr = f"{tmp_path}/b.octavo:/t"
    os.makedirs(f"{tmp_path}/b.octavo")
    octavo.open(f"{tmp_path}/b.octavo", "a").close()
    write_parquet(df, addr)
    pd.testing.assert_frame_equal(read_parquet(addr), df)
    assert POLARS_AVAILABLE is True


@pytest.mark.parametrize("use_polars", [True, False])
def test_missing_file_is_file_not_found_without_fallback_noise(tmp_path, sources, caplog, use_polars):
    """A missing path is reported once, as octavo's error that is also FileNotFoundError, before any reader
    (and the polars → pyarrow fallback, which used to log a warning first) is tried."""
    missing = tmp_path / "nope.parquet"
    with caplog.at_level("WARNING"):
        with pytest.raises(FileNotFoundError, match="nope.parquet") as e:
            read_parquet(missing, use_polars=use_polars)
    assert isinstance(e.value, octavo.MissingFileError) and isinstance(e.value, octavo.OctavoError)
    assert not caplog.records
    with pytest.raises(octavo.MissingFileError, match="nope.parquet"):
        read_parquet([sources[0]["file"], missing])
    for reader in (read_parquet_schema, read_parquet_columns, read_parquet_lazy):
        with pytest.raises(FileNotFoundError):
            reader(missing)
