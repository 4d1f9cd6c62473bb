"""Enums for the API's closed sets (octavo.Mode, Compressor, Compression, ...): accepted wherever
the strings are, equal to them, and every member is a value the engine takes; wrong values are
InvalidArgumentErrors naming the choices."""
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import octavo
from octavo import fileio

ENUMS = [octavo.Mode, octavo.FileMode, octavo.ReturnType, octavo.Compressor, octavo.Shuffle, octavo.Compression,
         octavo.MigrationStatus, octavo.ImportAction]


@pytest.mark.parametrize("names", ENUMS)
def test_members_behave_as_their_strings(names):
    for m in names:
        assert m == m.value and str(m) == m.value and f"{m}" == m.value
        assert {m.value: 1}[m] == 1  # same hash: dicts keyed by the strings still work
        assert json.loads(json.dumps({"k": m})) == {"k": m.value}
        assert names(m.value) is m


@pytest.mark.parametrize("mode", list(octavo.Mode))
def test_open_modes(tmp_path, mode):
    path = tmp_path / "b.octavo"
    octavo.open(path, "a").close()
    with octavo.open(path, mode) as b:
        assert b.mode == mode.value and type(b.mode) is str
        assert b.writable == (mode is not octavo.Mode.READ)


def test_open_mode_errors_name_the_choices(tmp_path):
    for bad in ("x", "rw", 5, None, octavo.Compressor.ZSTD):
        with pytest.raises(octavo.InvalidArgumentError, match=r"mode must be one of 'r', 'a', 'w' \(octavo.Mode\)"):
            octavo.open(tmp_path / "b.octavo", bad)
    assert not (tmp_path / "b.octavo").exists()
    octavo.open(tmp_path / "b.octavo", "r+").close()  # PyTables' spelling of "a" still works


def test_file_modes(bundle):
    with bundle.create_file("/f") as f:
        f.write(b"one\n")
    with bundle.open_file("/f", octavo.FileMode.APPEND_BINARY) as f:
        f.write(b"two\n")
    with bundle.open_file("/f", octavo.FileMode.READ_BINARY) as f:
        assert f.read() == b"one\ntwo\n"
    with bundle.open_file("/f", octavo.FileMode.READ_TEXT) as f:
        assert f.readlines() == ["one\n", "two\n"]


def test_return_types(bundle):
    bundle.add_table("t", {"x": [1, 2, 3]})
    kinds = {octavo.ReturnType.PANDAS: pd.DataFrame, octavo.ReturnType.ARROW: pa.Table}
    for rt, cls in kinds.items():
        assert isinstance(bundle.get_table("t", return_type=rt), cls)
    pl = pytest.importorskip("polars")
    assert isinstance(bundle.get_table("t", return_type=octavo.ReturnType.POLARS), pl.DataFrame)
    for bad in ("numpy", 5, octavo.Mode.READ):
        with pytest.raises(octavo.InvalidArgumentError, match=r"return_type must be one of 'pandas', 'polars', "
                                                              r"'arrow' \(octavo.ReturnType\)") as e:
            bundle.get_table("t", return_type=bad)
        assert isinstance(e.value, ValueError)  # what this raised before it was an InvalidArgumentError


@pytest.mark.parametrize("compressor", list(octavo.Compressor))
def test_every_compressor_is_an_engine_codec(bundle, compressor):
    data = np.arange(1000, dtype="int32").reshape(10, 100)
    shuffle = octavo.Shuffle.BITSHUFFLE if compressor.value.startswith("blosc") else octavo.Shuffle.SHUFFLE
    a = bundle.create_array("/a", data, chunks=(5, 50), compressor=compressor, shuffle=shuffle)
    np.testing.assert_array_equal(a[...], data)
    assert a.compressor.split(":")[0] == compressor.value.split(":")[0]


def test_compressor_errors_name_the_choices(bundle):
    with pytest.raises(octavo.InvalidArgumentError, match="unknown compressor 'zstdx'; use zstd, lz4, gzip"):
        bundle.create_array("/a", np.zeros(3), compressor="zstdx")
    with pytest.raises(octavo.InvalidArgumentError, match="shuffle='bits': use True, False"):
        bundle.create_array("/a", np.zeros(3), shuffle="bits")


@pytest.mark.parametrize("compression", list(octavo.Compression))
def test_every_compression_is_a_parquet_codec(bundle, compression):
    t = bundle.create_table("/t", {"x": list(range(100))}, compression=compression)
    assert t.read(return_type="arrow").column("x").to_pylist() == list(range(100))


def test_compression_errors_name_the_choices(bundle, tmp_path):
    with pytest.raises(octavo.InvalidArgumentError, match="unknown Parquet compression 'snappyx'; use zstd, lz4, snappy"):
        bundle.create_table("/t", {"x": [1]}, compression="snappyx")
    # Not a string at all: refused before the engine's argument conversion (a TypeError before).
    for bad in (5, octavo.Compressor.ZSTD):
        with pytest.raises(octavo.InvalidArgumentError, match=r"compression must be one of .*'snappy'.*\(octavo.Compression\)"):
            fileio.import_h5(bundle, tmp_path / "x.h5", compression=bad)
        with pytest.raises(octavo.InvalidArgumentError, match=r"\(octavo.Compression\)"):
            fileio.migrate_h5_to_parquet(tmp_path, compression=bad)


def test_migration_status_and_import_actions_are_members(tmp_path):
    pytest.importorskip("tables")
    pd.DataFrame({"x": np.arange(5.0)}).to_hdf(tmp_path / "a.h5", key="df", format="table", mode="w")
    planned = fileio.migrate_h5_to_parquet(tmp_path, dry_run=True, compression=octavo.Compression.ZSTD)
    assert [f["status"] for f in planned["files"]] == [octavo.MigrationStatus.PLANNED]
    assert planned["files"][0]["status"] is octavo.MigrationStatus.PLANNED
    done = fileio.migrate_h5_to_parquet(tmp_path, compression=octavo.Compression.ZSTD)
    assert done["files"][0]["status"] is octavo.MigrationStatus.CONVERTED and len(done["converted"]) == 1
    again = fileio.migrate_h5_to_parquet(tmp_path)
    assert again["files"][0]["status"] is octavo.MigrationStatus.SKIPPED and len(again["skipped"]) == 1
    items = fileio.inspect_h5(tmp_path / "a.h5")
    assert items and all(isinstance(it["action"], octavo.ImportAction) for it in items)
    with octavo.open(tmp_path / "b.octavo", "a") as b:
        result = fileio.import_h5(b, tmp_path / "a.h5", "/h5", compression=octavo.Compression.SNAPPY)
    assert octavo.ImportAction.TABLE in [it["action"] for it in result["items"]]
    assert all(isinstance(it["action"], octavo.ImportAction) for it in result["items"])


def test_parquet_helpers_share_the_return_types(tmp_path):
    from octavo import parquet

    p = tmp_path / "x.parquet"
    parquet.write_parquet(pa.table({"x": [1, 2]}), p)
    assert not (tmp_path / "x.parquet.tmp").exists()  # written under a temporary name, then renamed
    assert isinstance(parquet.read_parquet(p, return_type=octavo.ReturnType.ARROW), pa.Table)
    with pytest.raises(octavo.InvalidArgumentError, match=r"\(octavo.ReturnType\)"):
        parquet.read_parquet(p, return_type="numpy")
