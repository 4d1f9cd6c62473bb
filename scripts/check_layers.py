#!/usr/bin/env python3
"""Checks the engine's layering: no source file includes a header of a layer above its own.

    util -> format -> bundle -> {table, array, file} -> query -> api
    util -> infer (type inference of the importers, beside the engine)
    util -> objstore -> api

`LAYERS` maps each directory under src/ to the directories it may include (besides its own
and the public headers in include/octavo/). The CLI, the Python bindings and the HDF5
importer sit on top and may include only the public API (plus the exceptions listed with
their reason). Run by ctest ("layers"); exits non-zero naming each offending include.
"""
import pathlib
import re
import sys

ENGINE = ["util", "format", "bundle", "table", "array", "file", "query", "objstore", "api"]
LAYERS = {
    "util": [],
    "format": ["util"],
    "bundle": ["util", "format"],
    "table": ["util", "format", "bundle"],
    "array": ["util", "format", "bundle"],
    "file": ["util", "format", "bundle"],
    "query": ["util", "format", "bundle", "table"],
    "objstore": ["util"],          # the S3 Env (object stores); chosen by api/ for s3:// addresses
    "api": ["util", "format", "bundle", "table", "array", "file", "query", "objstore"],
    # Above the engine: the public API only, plus what is named here.
    "hdf5": ["util", "table"],     # names and UTF-8 checks; Parquet writing of the migration converter
    "share": ["util"],             # the CRC-32 of shared table segments (octavo/share.h)
    "infer": ["util"],             # type inference shared by the SQLite and CSV importers (Arrow, names)
    "sqlite": ["util", "infer"],   # names, JSON and time helpers, inference; otherwise the public API only
    "csv": ["util", "infer"],      # names, inference; otherwise the public API only
    "cli": [],
    "python": ["util", "hdf5"],   # JSON helpers; the HDF5 bindings
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1] / "src")
    errors = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cc"):
            continue
        layer = path.relative_to(src).parts[0]
        if layer not in LAYERS:
            errors.append(f"{path}: directory src/{layer}/ has no entry in scripts/check_layers.py LAYERS")
            continue
        allowed = set(LAYERS[layer]) | {layer, "octavo"}
        for inc in INCLUDE.findall(path.read_text(encoding="utf-8")):
            top = inc.split("/")[0]
            if "/" not in inc or top in allowed:
                continue
            errors.append(f"{path.relative_to(src.parent)}: includes \"{inc}\", but {layer}/ may include only "
                          f"{', '.join(sorted(allowed - {'octavo'})) or 'itself'} (and include/octavo/)")
    for e in errors:
        print(e)
    print(f"check_layers: {len(errors)} violation(s)" if errors else "check_layers: OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
