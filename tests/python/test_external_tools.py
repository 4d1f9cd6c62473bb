"""Tables are plain Parquet: DuckDB, polars and pyarrow.dataset read the part files."""
import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds


def test_external_readers_see_the_same_rows(bundle):
    rng = np.random.default_rng(0)
    data = pa.table({"id": np.arange(5000), "x": rng.random(5000), "s": [f"k{i % 7}" for i in range(5000)]})
    t = bundle.create_table("/data/readout", data=data.slice(0, 2000), part_max_rows=1500)
    t.append(data.slice(2000))
    paths = bundle.get_table_path("/data/readout")
    assert len(paths) == 4  # 1500 + 500, then 1500 + 1500
    ours = t.read(return_type="arrow")

    via_ds = ds.dataset(paths, format="parquet").to_table()
    assert via_ds.column("id").to_pylist() == ours.column("id").to_pylist()
    via_pl = pl.read_parquet(paths)
    assert via_pl["x"].to_list() == ours.column("x").to_pylist()
    con = duckdb.connect()
    got = con.execute("SELECT sum(id), count(*), min(s) FROM read_parquet(?)", [paths]).fetchone()
    assert got == (sum(range(5000)), 5000, "k0")
    all_paths = bundle.get_all_table_paths()
    assert all_paths == {"/data/readout": paths}


def test_table_is_an_arrow_stream(bundle):
    data = pa.table({"id": np.arange(100)})
    t = bundle.create_table("/t", data=data)
    assert pa.table(t).column("id").to_pylist() == list(range(100))
    assert pl.DataFrame(t)["id"].sum() == sum(range(100))
    assert duckdb.sql("SELECT count(*) FROM t").fetchall()[0][0] == 100
