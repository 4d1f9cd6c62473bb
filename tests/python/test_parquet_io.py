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


def test_condition_string_is_pushed_down_on_bundle_tables(sources):
    src, df = sources
    got = read_parquet(src["bundle"], filters="(cdp >= 50) & (offset < 260)", return_type="arrow")
    want = df[(df.cdp >= 50) & (df.offset < 260)]
    assert got.column("trace").to_pylist() == want["trace"].tolist()
    with pytest.raises(octavo.InvalidArgumentError, match="tuples"):
        read_parquet(src["file"], filters="cdp > 3")


def test_bad_filters(sources):
    src, _ = sources
    for bad in ([("cdp", "~", 1)], [("cdp", "<")], "x", [1, 2]):
        with pytest.raises(octavo.InvalidArgumentError):
            read_parquet(src["bundle"] if not isinstance(bad, str) else src["file"], filters=bad)


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
