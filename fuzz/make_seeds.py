"""Writes small seed corpora for the fuzz targets into DIR/<target>/ (scripts/fuzz.sh)."""
import json
import os
import pickle
import struct
import sys

out = sys.argv[1]


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


for i, c in enumerate(["x > 3", "(x > 1) & (y < 2.5)", "s == 'abc'", "~b | (x == lim)",
                       "x in (1, 2, 3)", "t > '2024-01-01'", "(i8 + 1) * 2 >= u", "s.startswith('a')",
                       "d != '2020-02-29'", "((((x))))", "x BETWEEN 1 AND 5", "y != y"]):
    put("condition", f"seed{i}", c)

node = {"kind": "group", "attrs": {}, "created_at": "2026-12-05T00:00:00Z", "modified_at": "2026-12-05T00:00:00Z"}
manifest = {"format": "octavo-manifest", "format_version": 2,
            "features": ["sealed-metadata", "footer-checksums", "file-block-checksums"],
            "commit": 1, "parent": 0, "created_at": "2026-12-05T00:00:00Z", "message": "m",
            "nodes": {"/": node, "/g": dict(node, attrs={"a": 1})}}
put("manifest", "seed0", json.dumps(manifest))
put("manifest", "seed1", json.dumps(dict(manifest, nodes={"/": node})))
# version 1 is unsealed, so the fuzzer reaches every field; floats where integers belong
put("manifest", "seed2", json.dumps(dict(manifest, format_version=1e300, features=[])))

codecs = {
    "none": [{"name": "bytes", "configuration": {"endian": "little"}}],
    "zstd": [{"name": "bytes", "configuration": {"endian": "little"}},
             {"name": "zstd", "configuration": {"level": 3, "checksum": False}}],
    "blosc": [{"name": "bytes", "configuration": {"endian": "little"}},
              {"name": "blosc", "configuration": {"typesize": 8, "cname": "zstd", "clevel": 5,
                                                  "shuffle": "noshuffle", "blocksize": 0}}],
    "lz4": [{"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "numcodecs.lz4", "configuration": {"acceleration": 1}}],
}
for name, cs in codecs.items():
    z = {"zarr_format": 3, "node_type": "array", "shape": [4, 2], "data_type": "float64",
         "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}},
         "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
         "fill_value": 0.0, "codecs": cs, "attributes": {}, "storage_transformers": []}
    chunk = struct.pack("<4d", 1, 2, 3, 4) if name == "none" else b""
    put("zarr_meta", f"seed_{name}", json.dumps(z).encode() + b"\0" + chunk)

for i, v in enumerate([1, "abc", [1, 2.5, None], {"a": (1, 2)}, {"k": [b"x", True]}, list(range(40))]):
    for proto in (2, 4):
        put("unpickle", f"seed{i}_p{proto}", pickle.dumps(v, protocol=proto))

# page decoders: header (width, n, stride, first) + an RLE run, a bit-packed run, a delta page
put("page_decoders", "rle", bytes([3, 8, 1, 0]) + bytes([8 << 1, 5]))
put("page_decoders", "bitpacked", bytes([3, 8, 1, 0]) + bytes([(1 << 1) | 1]) + bytes(range(3)))
delta = bytes([0x80, 0x01, 0x04, 0x0a, 0x02]) + bytes([0x02]) + bytes([1, 1, 1, 1]) + bytes(16)
put("page_decoders", "delta", bytes([1, 5, 1, 0]) + delta)
# a page header whose zigzag field id is 2^62, then a delta field: found by this fuzzer
# (a signed overflow in the Thrift reader before field ids were held to 16 bits)
put("page_decoders", "header_huge_field_id", bytes([0x00, 0x21, 0xfc, 0x01, 0x3b, 0x00, 0x02, 0xfc] + [0xff] * 8 +
                                                   [0x01, 0x3b, 0x00, 0x02, 0x00, 0xff, 0x3d]))
