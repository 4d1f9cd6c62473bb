"""Tables: types, pandas/polars fidelity, reads, appends, row writer, info."""
import datetime as dt
import decimal
import os

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import octavo


def all_types_table(n=50, seed=0):
    rng = np.random.default_rng(seed)
    ints = rng.integers(-100, 100, n)
    return pa.table({
        "b": pa.array(rng.random(n) > 0.5),
        "i8": pa.array(ints, pa.int8()), "i16": pa.array(ints, pa.int16()),
        "i32": pa.array(ints, pa.int32()), "i64": pa.array(ints, pa.int64()),
        "u8": pa.array(np.abs(ints), pa.uint8()), "u16": pa.array(np.abs(ints), pa.uint16()),
        "u32": pa.array(np.abs(ints), pa.uint32()), "u64": pa.array(np.abs(ints), pa.uint64()),
        "f16": pa.array(rng.random(n).astype(np.float16), pa.float16()),
        "f32": pa.array(rng.random(n), pa.float32()), "f64": pa.array(rng.random(n)),
        "s": pa.array([f"s{i}" if i % 7 else None for i in range(n)]),
        "ls": pa.array([f"é{i}" for i in range(n)], pa.large_string()),
        "bin": pa.array([bytes([i % 256]) * (i % 5) for i in range(n)], pa.binary()),
        "ts": pa.array(np.arange(n) * 1_000_000, pa.timestamp("us", tz="Europe/Paris")),
        "ts_ns": pa.array(np.arange(n), pa.timestamp("ns")),
        "d": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(n)], pa.date32()),
        "dur": pa.array(np.arange(n), pa.duration("ms")),
        "dec": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(10, 2)),
        "cat": pa.array([["lo", "mid", "hi"][i % 3] for i in range(n)]).dictionary_encode(),
        "lst": pa.array([list(range(i % 4)) for i in range(n)], pa.list_(pa.int32())),
        "st": pa.array([{"a": i, "b": str(i)} for i in range(n)]),
        "fsl": pa.array([[float(i)] * 3 for i in range(n)], pa.list_(pa.float32(), 3)),
    })


def test_all_arrow_types_round_trip(bundle):
    t = all_types_table()
    bundle.create_table("/types", data=t, row_group_size=16)
    back = bundle["/types"].read(return_type="arrow")
    assert back.schema.remove_metadata() == t.schema.remove_metadata()
    assert back.equals(t.replace_schema_metadata(back.schema.metadata))


def test_create_from_schema_then_append(bundle):
    schema = pa.schema([("name", pa.string()), ("pressure", pa.float32()), ("shape", pa.list_(pa.int16(), 2))])
    t = bundle.create_table("/detector", "readout", schema, title="Readout example")
    assert t.num_rows == 0 and t.attrs["TITLE"] == "Readout example"
    assert t.read(return_type="arrow").num_rows == 0
    data = pa.table({"name": ["a", "b"], "pressure": pa.array([1.0, 2.0], pa.float32()),
                     "shape": pa.array([[1, 2], [3, 4]], pa.list_(pa.int16(), 2))})
    t.append(data)
    assert t.read(return_type="arrow").equals(data.replace_schema_metadata(t.schema.metadata))


def test_pandas_fidelity_multiindex_columns_and_rows(bundle):
    cols = pd.MultiIndex.from_product([["DLC_resnet50"], ["nose", "tail", "paw"], ["x", "y", "likelihood"]],
                                      names=["scorer", "bodyparts", "coords"])
    df = pd.DataFrame(np.random.default_rng(1).random((100, 9)), columns=cols)
    bundle.add_table("pose", df)
    pd.testing.assert_frame_equal(bundle.get_table("pose"), df)

    rows = pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["subject", "trial"])
    df2 = pd.DataFrame({"v": np.arange(6.0), "w": list("uvwxyz")}, index=rows)
    bundle.add_table("/by/subject", df2)
    pd.testing.assert_frame_equal(bundle.get_table("/by/subject"), df2)


def test_pandas_fidelity_index_kinds_and_dtypes(bundle):
    n = 20
    df = pd.DataFrame({
        "i": np.arange(n, dtype=np.int32),
        "f": np.linspace(0, 1, n),
        "nan": [np.nan if i % 3 == 0 else float(i) for i in range(n)],
        "s": [f"row{i}" for i in range(n)],
        "cat": pd.Categorical([["lo", "hi"][i % 2] for i in range(n)]),
        "ts": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        "td": pd.to_timedelta(np.arange(n), unit="s"),
        "b": np.arange(n) % 2 == 0,
        "u8": np.arange(n, dtype=np.uint8),
    }, index=pd.Index(np.arange(100, 100 + n), name="frame"))
    bundle.add_table("frames", df)
    pd.testing.assert_frame_equal(bundle.get_table("frames"), df)
    # string index
    df_s = df.set_index("s")
    bundle.add_table("frames_s", df_s)
    pd.testing.assert_frame_equal(bundle.get_table("frames_s"), df_s)


def test_range_index_continues_across_appends_and_slices(bundle):
    df = pd.DataFrame({"x": np.arange(10.0)})
    bundle.add_table("r", df)
    bundle.append_table("r", df)
    full = bundle.get_table("r")
    pd.testing.assert_index_equal(full.index, pd.RangeIndex(0, 20))
    part = bundle.get_table("r", offset=5, limit=10)
    pd.testing.assert_index_equal(part.index, pd.RangeIndex(5, 15))
    assert part["x"].tolist() == list(np.arange(5.0, 10.0)) + list(np.arange(0.0, 5.0))


def test_polars_in_polars_out_and_return_type_override(bundle):
    df = pl.DataFrame({"a": [1, 2, 3], "s": ["x", "y", None], "f": [0.5, None, 1.5]})
    bundle.add_table("pl", df)
    back = bundle.get_table("pl")
    assert isinstance(back, pl.DataFrame)
    assert back.equals(df)
    assert isinstance(bundle.get_table("pl", return_type="pandas"), pd.DataFrame)
    assert isinstance(bundle.get_table("pl", return_type="arrow"), pa.Table)
    with pytest.raises(ValueError, match="return_type"):
        bundle.get_table("pl", return_type="numpy")
    # pandas in -> polars out on request
    bundle.add_table("pd", pd.DataFrame({"a": [1, 2]}))
    assert isinstance(bundle.get_table("pd", return_type="polars"), pl.DataFrame)


def test_dict_of_numpy_and_structured_array(bundle):
    bundle.add_table("d", {"x": np.arange(5), "y": np.ones(5, dtype=np.float32)})
    out = bundle.get_table("d")
    assert out["x"].tolist() == [0, 1, 2, 3, 4] and out["y"].dtype == np.float32
    rec = np.zeros(3, dtype=[("name", "S8"), ("energy", "f8")])
    rec["energy"] = [1.0, 2.0, 3.0]
    bundle.add_table("rec", rec)
    assert bundle.get_table("rec", return_type="arrow").column("energy").to_pylist() == [1.0, 2.0, 3.0]


def test_record_batch_reader_input(bundle):
    t = pa.table({"x": np.arange(1000)})
    bundle.create_table("/s", data=pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=100)))
    assert bundle["/s"].num_rows == 1000


def test_unsupported_input_type(bundle):
    with pytest.raises(TypeError, match="cannot store"):
        bundle.add_table("bad", [1, 2, 3])


def test_read_ranges_and_projection_match_arrow_slicing(bundle):
    data = pa.table({"id": np.arange(10_000), "x": np.arange(10_000) * 0.5, "s": [str(i) for i in range(10_000)]})
    t = bundle.create_table("/t", data=data.slice(0, 3000), row_group_size=700, part_max_rows=1000)
    t.append(data.slice(3000, 7000))
    info = t.info()
    assert info["num_parts"] == 3 + 7
    for start, stop in [(0, 10), (650, 1450), (999, 1001), (2999, 3001), (9990, 20000), (-5, None), (5000, 5000)]:
        got = t.read(start, stop, return_type="arrow")
        s = start if start >= 0 else 10_000 + start
        e = 10_000 if stop is None else min(stop, 10_000)
        exp = data.slice(s, max(0, e - s))
        assert got.num_rows == exp.num_rows
        assert got.column("id").to_pylist() == exp.column("id").to_pylist(), (start, stop)
    # every start/stop means what it means in a Python slice, including those resolved by the
    # engine (non-negative) and those resolved in Python (negative, beyond int64)
    ids = list(range(10_000))
    ends = [None, 0, 1, 7, 9_999, 10_000, 10_001, 2**62 - 1, 2**62, 2**70, -1, -7, -9_999, -10_000, -10_001, -(2**70)]
    for start in ends:
        for stop in ends:
            got = t.read(start, stop, columns=["id"], return_type="arrow").column("id").to_pylist()
            assert got == ids[start:stop], (start, stop)
            it = [b.column("id").to_pylist() for b in t.iter_batches(4_000, columns=["id"], return_type="arrow",
                                                                   start=start, stop=stop)]
            assert sum(it, []) == ids[start:stop], (start, stop)
    assert t.read(np.int64(9_998), None, return_type="arrow").num_rows == 2
    with pytest.raises(octavo.InvalidArgumentError, match="start must be an integer"):
        t.read(1.5, 3)
    proj = t.read(100, 200, columns=["s", "id"], return_type="arrow")
    assert proj.column_names == ["s", "id"]
    with pytest.raises(octavo.NotFoundError, match="no column 'nope'.*id, x, s"):
        t.read(columns=["nope"])


def test_iter_batches_exact_sizes_and_constant_content(bundle):
    data = pa.table({"id": np.arange(25_000)})
    t = bundle.create_table("/t", data=data, row_group_size=3000, part_max_rows=7000)
    sizes, ids = [], []
    for chunk in t.iter_batches(4000, return_type="arrow"):
        sizes.append(chunk.num_rows)
        ids.extend(chunk.column("id").to_pylist())
    assert sizes == [4000] * 6 + [1000]
    assert ids == list(range(25_000))
    # DataFolio-style, pandas by default for pandas tables; index numbers rows
    bundle.add_table("p", pd.DataFrame({"v": np.arange(10)}))
    chunks = list(bundle.iter_table("p", chunk_size=4, columns=["v"]))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert chunks[1].index.tolist() == [4, 5, 6, 7]
    with pytest.raises(octavo.InvalidArgumentError):
        next(t.iter_batches(0))


def test_head_preview_and_getitem(bundle):
    bundle.add_table("p", pd.DataFrame({"v": np.arange(100)}))
    assert len(bundle.preview_table("p", n=7)) == 7
    t = bundle["/p"]
    assert t.head(3)["v"].tolist() == [0, 1, 2]
    assert t[10:13]["v"].tolist() == [10, 11, 12]
    assert len(t) == 100


def test_append_schema_mismatch_names_column_and_writes_nothing(bundle):
    bundle.add_table("t", pa.table({"id": pa.array([1, 2], pa.int64()), "x": [0.5, 1.5]}))
    before = bundle.commit["id"]
    data_dir = os.path.join(bundle.path, "data")
    files_before = sum(len(f) for _, _, f in os.walk(data_dir))
    with pytest.raises(octavo.SchemaError, match=r"column 'id' has type string but the table expects int64"):
        bundle.append_table("t", pa.table({"id": pa.array(["3"]), "x": [2.5]}))
    with pytest.raises(octavo.SchemaError, match=r"column 'x' \(double\) is missing"):
        bundle.append_table("t", pa.table({"id": pa.array([3], pa.int64())}))
    with pytest.raises(octavo.SchemaError, match="column 'extra'"):
        bundle.append_table("t", pa.table({"id": pa.array([3], pa.int64()), "x": [1.0], "extra": [1]}))
    assert bundle.commit["id"] == before
    assert sum(len(f) for _, _, f in os.walk(data_dir)) == files_before
    assert bundle["/t"].num_rows == 2
    # same columns in another order are fine
    bundle.append_table("t", pa.table({"x": [9.5], "id": pa.array([9], pa.int64())}))
    assert bundle.get_table("t", return_type="arrow").column("id").to_pylist() == [1, 2, 9]


def test_categorical_append_with_wider_dictionary(bundle):
    df = pd.DataFrame({"c": pd.Categorical(["a", "b"])})
    bundle.add_table("c", df)
    many = pd.DataFrame({"c": pd.Categorical([f"k{i}" for i in range(300)])})
    bundle.append_table("c", many)  # int8 -> int16 dictionary indices
    back = bundle.get_table("c")
    assert back["c"].astype(str).tolist() == ["a", "b"] + [f"k{i}" for i in range(300)]


def test_row_writer_pytables_pattern(bundle):
    schema = pa.schema([("name", pa.string()), ("TDCcount", pa.uint8()), ("pressure", pa.float32())])
    t = bundle.create_table("/detector/readout", data=schema)
    row = t.row
    for i in range(10):
        row["name"] = f"Particle: {i:6d}"
        row["TDCcount"] = i % 256
        row["pressure"] = float(i * i)
        row.append()
    assert t.num_rows == 0  # buffered until flush
    t.flush()
    assert t.num_rows == 10
    got = t.read(return_type="arrow")
    assert got.column("pressure").type == pa.float32()
    assert got.column("name")[3].as_py() == "Particle:      3"
    with pytest.raises(KeyError):
        row["nope"] = 1
    row["TDCcount"] = 999  # out of uint8 range
    row.append()
    with pytest.raises(octavo.SchemaError):
        t.flush()
    assert t.num_rows == 10


def test_table_info_from_manifest_only(bundle):
    df = pd.DataFrame({"a": np.arange(1000), "b": np.random.default_rng(0).random(1000)})
    bundle.add_table("t", df)
    bundle.append_table("t", df)
    info = bundle.table_info("t")
    assert info["rows"] == 2000 and info["columns"] == 2
    assert info["column_names"] == ["a", "b"]
    assert info["dtypes"] == {"a": "int64", "b": "double"}
    assert isinstance(info["parquet_schema"], pa.Schema)
    assert info["created_at"].endswith("Z") and info["num_parts"] == 2
    assert info["size_mb"] > 0
    # delete the data files: info still answers, because it never opens them
    for p in bundle.get_table_path("t"):
        os.remove(p)
    assert bundle.table_info("t")["rows"] == 2000
    with pytest.raises(octavo.CorruptionError, match="missing"):
        bundle.get_table("t")


def test_parquet_options_are_applied(bundle):
    import pyarrow.parquet as pq

    # repeating values: the table's codec applies (sequences and noise are stored
    # uncompressed, see the next test)
    t = bundle.create_table("/t", data=pa.table({"x": np.arange(10_000) % 7}),
                            options={"compression": "lz4", "row_group_size": 1000})
    md = pq.ParquetFile(t.part_paths[0]).metadata
    assert md.num_row_groups == 10
    assert md.row_group(0).column(0).compression == "LZ4"
    assert t.info()["options"]["compression"] == "lz4"
    with pytest.raises(octavo.InvalidArgumentError, match="compression"):
        bundle.create_table("/u", data=pa.table({"x": [1]}), compression="nope")
    with pytest.raises(octavo.InvalidArgumentError, match="unknown table option"):
        bundle.create_table("/v", data=pa.table({"x": [1]}), options={"bogus": 1})


def test_encodings_chosen_per_column_from_the_first_rows(tmp_path):
    """Sequences are delta-encoded, distinct values written plain, repeating ones with a
    dictionary; every type reads back exactly (pyarrow sees the same values)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 50_000
    rng = np.random.default_rng(3)
    data = pa.table({
        "frame": pa.array(np.arange(n, dtype=np.int64) * 3 + 7),
        "ts": pa.array(1_700_000_000_000 + np.arange(n) * 40, type=pa.timestamp("ms")),
        "day": pa.array(np.arange(n, dtype=np.int32), type=pa.date32()),
        "small": pa.array((np.arange(n) % 30_000).astype(np.int16)),
        "big_u": pa.array(np.arange(n, dtype=np.uint64) + np.uint64(2**63)),
        "noise": pa.array(rng.integers(-2**62, 2**62, n)),
        "x": pa.array(rng.random(n)),
        "label": pa.array(np.array(["a", "b", "c", "d"])[rng.integers(0, 4, n)]),
        "names": pa.array([f"subject-{i}" for i in rng.permutation(n)], mask=np.arange(n) % 5 == 0),
        "half": pa.array(np.arange(n, dtype=np.int64) // 3),  # a third distinct: a dictionary
        "phase": pa.array(np.array(["rest", "run", "groom", "eat"])[(np.arange(n) // 700) % 4]),
        "gappy": pa.array(np.arange(n, dtype=np.int64), mask=np.arange(n) % 11 == 0),
        # already dictionary-typed (pandas categoricals, dictionary_encode()): the same rules
        "cat_random": pa.array(np.array(["a", "b", "c", "d"])[rng.integers(0, 4, n)]).dictionary_encode(),
        "cat_runs": pa.DictionaryArray.from_arrays(pa.array(((np.arange(n) // 700) % 4).astype(np.int32)),
                                                   pa.array(["rest", "run", "groom", "eat"])),
    })
    with octavo.open(str(tmp_path / "enc.octavo"), "w") as b:
        b.create_table("/t", data=data)
        t = b.table("/t")
        assert t.read(return_type="arrow").equals(data)
        (path,) = t.part_paths
    pf = pq.ParquetFile(path)
    assert pf.read().select(data.schema.names).equals(data.cast(pf.schema_arrow))
    enc = {pf.metadata.row_group(0).column(i).path_in_schema: pf.metadata.row_group(0).column(i).encodings
           for i in range(pf.metadata.num_columns)}
    for seq in ("frame", "ts", "day", "big_u"):
        assert "DELTA_BINARY_PACKED" in enc[seq], (seq, enc[seq])
    assert "RLE_DICTIONARY" in enc["half"], enc["half"]
    for distinct in ("noise", "x", "names"):
        assert "PLAIN" in enc[distinct] and "RLE_DICTIONARY" not in enc[distinct], (distinct, enc[distinct])
    assert "RLE_DICTIONARY" in enc["label"]
    comp = {pf.metadata.row_group(0).column(i).path_in_schema: pf.metadata.row_group(0).column(i).compression
            for i in range(pf.metadata.num_columns)}
    # random floats and categories in random order do not shrink: decompressing them would
    # only cost read time; categories in runs do
    assert comp["x"] == "UNCOMPRESSED" and comp["frame"] == "UNCOMPRESSED"
    assert comp["label"] == "UNCOMPRESSED" and "RLE_DICTIONARY" in enc["phase"]
    assert comp["phase"] == "ZSTD"
    assert comp["cat_random"] == "UNCOMPRESSED" and comp["cat_runs"] == "ZSTD"


# --- overwrite and creation are one commit (hardening: data loss) ----------------------

def test_add_table_overwrite_is_one_commit_and_readers_see_old_or_new(bundle_path):
    with octavo.open(bundle_path, "w") as b:
        b.add_table("t", pd.DataFrame({"a": [1, 2, 3]}))
    w = octavo.open(bundle_path, "a")
    before = len(w.commits())
    reader = octavo.open(bundle_path, "r")  # opened before the rewrite
    w.add_table("t", pd.DataFrame({"b": ["x", "y"]}), overwrite=True)
    assert len(w.commits()) == before + 1
    assert "overwrite table /t" in w.commits()[-1]["message"]
    # Every commit since the table was created has it: no commit with the table missing.
    for c in w.commits()[before - 1:]:
        assert octavo.open(bundle_path, commit=c["id"]).list_tables() == ["/t"]
    assert list(reader.get_table("t")["a"]) == [1, 2, 3]
    reader.refresh()
    assert list(reader.get_table("t")["b"]) == ["x", "y"]
    w.close()


def test_add_table_overwrite_failed_conversion_keeps_old_rows(bundle_path):
    with octavo.open(bundle_path, "w") as b:
        b.add_table("t", pd.DataFrame({"a": [1, 2, 3]}))
        n = len(b.commits())
        bad = pd.DataFrame({"a": [1, "x"]})  # mixed object column: pyarrow cannot convert it
        with pytest.raises(octavo.SchemaError, match=r"(?s)table '/t'.*column a") as ei:
            b.add_table("t", bad, overwrite=True)
        assert isinstance(ei.value.__cause__, pa.ArrowInvalid)
        assert len(b.commits()) == n
        assert list(b.get_table("t")["a"]) == [1, 2, 3]


def test_add_table_overwrite_failure_inside_the_stream_keeps_old_rows(bundle_path):
    schema = pa.schema([("a", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([7, 8])], schema=schema)
        raise RuntimeError("source broke")

    with octavo.open(bundle_path, "w") as b:
        b.add_table("t", pa.table({"a": [1, 2, 3]}))
        n = len(b.commits())
        with pytest.raises(octavo.OctavoError):
            b.add_table("t", pa.RecordBatchReader.from_batches(schema, batches()), overwrite=True)
        assert len(b.commits()) == n
        assert b.get_table("t", return_type="arrow")["a"].to_pylist() == [1, 2, 3]


def test_add_table_overwrite_replaces_a_group_subtree(bundle):
    bundle.create_group("/g/sub")
    bundle.add_table("g", {"a": [1]}, overwrite=True)
    assert bundle.list_tables() == ["/g"]
    assert "/g/sub" not in bundle


def test_create_table_with_title_is_one_commit(bundle):
    n = len(bundle.commits())
    t = bundle.create_table("/t", data={"a": [1]}, title="readout")
    assert len(bundle.commits()) == n + 1
    assert t.attrs["TITLE"] == "readout"
    t2 = bundle.create_table("/t2", schema=pa.schema([("a", pa.int32())]), title="empty")
    assert len(bundle.commits()) == n + 2
    assert t2.attrs["TITLE"] == "empty"


def test_append_table_on_missing_table_is_one_commit(bundle):
    n = len(bundle.commits())
    bundle.append_table("new", {"a": [1, 2]})
    assert len(bundle.commits()) == n + 1


def test_column_name_with_lone_surrogate_is_invalid_argument(bundle):
    with pytest.raises(octavo.InvalidArgumentError, match="not valid Unicode"):
        bundle.add_table("u", {"x\udcff": [1]})
    df = pd.DataFrame({"a": [1]}).set_axis(pd.Index(["x\udcff"], dtype=object), axis=1)
    with pytest.raises(octavo.InvalidArgumentError, match="not valid Unicode"):
        bundle.add_table("u", df)
    assert "/u" not in bundle
    bundle.add_table("t", {"a": [1]})
    with pytest.raises(octavo.InvalidArgumentError, match=r"where condition .*not valid Unicode"):
        bundle.table("t").read_where("a == '\udcff'")
    with pytest.raises(octavo.InvalidArgumentError, match=r"condvar"):
        bundle.table("t").read_where("a == v", condvars={"v": "\udcff"})
    with pytest.raises(octavo.InvalidArgumentError, match=r"column name"):
        bundle.table("t").read(columns=["\udcff"])


def test_row_writer_flush_is_one_commit(bundle):
    t = bundle.create_table("/t", schema=pa.schema([("a", pa.int64())]))
    n = len(bundle.commits())
    for i in range(5):
        t.row["a"] = i
        t.row.append()
    t.flush()
    assert len(bundle.commits()) == n + 1
    assert t.read(return_type="arrow")["a"].to_pylist() == list(range(5))


def test_arrow_results_carry_the_stored_schema_metadata_but_not_octavos_own(bundle):
    # octavo.library (which library to return by default) stays octavo's: an arrow result has
    # the rest of the schema metadata (pandas' own, the caller's) and not that key.
    df = pd.DataFrame({"x": np.arange(5)}, index=pd.RangeIndex(10, 15))
    t = bundle.create_table("/pd", data=df)
    for got in (t.read(return_type="arrow"), t.read(1, 3, return_type="arrow"), t.read_arrow()):
        meta = got.schema.metadata or {}
        assert b"octavo.library" not in meta and b"pandas" in meta
    u = bundle.create_table("/own", data=pa.table({"y": [1, 2]}).replace_schema_metadata({"mine": "kept"}))
    assert u.read(return_type="arrow").schema.metadata == {b"mine": b"kept"}
    assert isinstance(t.read(), pd.DataFrame) and list(t.read(1, 3).index) == [11, 12]
