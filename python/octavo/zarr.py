"""A read-only zarr-python (v3) Store over an octavo array or group at one commit.

    import zarr, octavo
    b = octavo.open("exp.octavo")
    z = zarr.open_array(store=octavo.zarr.ZarrStore(b, "/images"), mode="r")
    g = zarr.open_group(store=octavo.zarr.ZarrStore(b, "/", commit=3), mode="r")

Keys map straight onto the bundle: ``zarr.json`` is the node's Zarr metadata (attributes =
the node's attributes) and ``c/0/1/2`` the immutable chunk file named in the manifest of the
chosen commit, served byte for byte. Chunks the manifest does not list are absent (zarr
reads them as fill_value). Groups expose their array and group descendants; tables, links
and other kinds are not Zarr nodes and are left out. The key map is taken once, at
construction: the store keeps showing that commit whatever writers do later.
"""
from __future__ import annotations

import json
import os
import zlib
from collections.abc import AsyncIterator, Iterable

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest

from . import _octavo
from .errors import CorruptionError, ReadOnlyError, check_fspath, check_text


def _open_read_only(path, commit: int | None):
    """The engine's read-only handle on the bundle at ``path`` (as ``octavo.open(path, "r", commit=)``)."""
    return _octavo.Bundle.open(check_fspath(path, "bundle path"), "r", -1 if commit is None else int(commit), "")


class ZarrStore(Store):
    """Read-only Zarr v3 view of node ``path`` of ``bundle`` (an open octavo Bundle or a
    bundle directory) at ``commit`` (default: the commit the handle sees)."""

    supports_writes = False
    supports_deletes = False
    supports_partial_writes = False
    supports_listing = True

    def __init__(self, bundle, path: str = "/", commit: int | None = None):
        super().__init__(read_only=True)
        # Works on the engine's handle (Bundle._native), so this module sits below octavo.bundle.
        own = None
        if isinstance(bundle, (str, os.PathLike)):
            own = native = _open_read_only(bundle, commit)
        else:
            native = bundle._native
            if commit is not None and commit != native.commit_info()["id"]:
                own = native = _open_read_only(native.path, commit)
        try:
            self._bundle_path = native.path
            self._commit = native.commit_info()["id"]
            check_text(path, "node path")
            resolved = native.resolve_path(path if path.startswith("/") else "/" + path)
            self._node = resolved
            self._meta: dict[str, bytes] = {}
            self._chunks: dict[str, tuple[str, int, int]] = {}
            for n in native.walk(resolved):
                rel = n["path"][len(resolved):].strip("/") if resolved != "/" else n["path"].strip("/")
                prefix = rel + "/" if rel else ""
                if n["kind"] == "group":
                    meta = {"zarr_format": 3, "node_type": "group", "attributes": json.loads(n["attrs_json"])}
                    self._meta[prefix + "zarr.json"] = json.dumps(meta, indent=2).encode()
                elif n["kind"] == "array":
                    arr = _octavo.open_array(native, n["path"])
                    info = arr.info()
                    zmeta = json.loads(info["zarr_json"])
                    self._meta[prefix + "zarr.json"] = info["zarr_json"].encode()
                    sep = zmeta.get("chunk_key_encoding", {}).get("configuration", {}).get("separator", "/")
                    for key, file, size, crc in arr.chunk_refs():
                        ckey = "c" if key == "" else "c" + sep + key.replace(".", sep)
                        self._chunks[prefix + ckey] = (file, size, crc)
        finally:
            if own is not None:
                own.close()
        self._keys = sorted(list(self._meta) + list(self._chunks))

    @property
    def commit(self) -> int:
        return self._commit

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ZarrStore) and other._bundle_path == self._bundle_path
                and other._commit == self._commit and other._node == self._node)

    def __hash__(self) -> int:
        return hash((self._bundle_path, self._commit, self._node))

    def __repr__(self) -> str:
        return f"ZarrStore({self._bundle_path!r}, {self._node!r}, commit={self._commit})"

    def with_read_only(self, read_only: bool = False) -> ZarrStore:
        if not read_only:
            raise ReadOnlyError("octavo's ZarrStore is read-only; write through octavo.Array")
        return self

    # --- reads ------------------------------------------------------------------
    def _bytes(self, key: str) -> bytes | None:
        if key in self._meta:
            return self._meta[key]
        ref = self._chunks.get(key)
        if ref is None:
            return None
        file, size, crc = ref
        try:
            with open(file, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CorruptionError(f"chunk {key} of {self._node} ({file}) is missing or unreadable: {e}") from e
        if len(data) != size:
            raise CorruptionError(f"chunk {key} of {self._node} ({file}) is {len(data)} bytes but the manifest "
                                  f"recorded {size} (truncated or overwritten); restore it or open an earlier commit")
        # crc < 0: a chunk written before checksums were recorded.
        if crc >= 0 and zlib.crc32(data) != crc:
            raise CorruptionError(f"chunk {key} of {self._node} ({file}) fails its checksum (the manifest recorded "
                                  f"CRC-32 {crc}, the file has {zlib.crc32(data)}): the file is damaged; restore it "
                                  "or open an earlier commit")
        return data

    async def get(self, key: str, prototype, byte_range: ByteRequest | None = None):
        data = self._bytes(key)
        if data is None:
            return None
        if byte_range is not None:
            if isinstance(byte_range, RangeByteRequest):
                data = data[byte_range.start:byte_range.end]
            elif isinstance(byte_range, OffsetByteRequest):
                data = data[byte_range.offset:]
            elif isinstance(byte_range, SuffixByteRequest):
                data = data[-byte_range.suffix:] if byte_range.suffix else b""
            else:
                raise TypeError(f"unexpected byte_range {byte_range!r}")
        return prototype.buffer.from_bytes(data)

    async def get_partial_values(self, prototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]):
        return [await self.get(k, prototype, r) for k, r in key_ranges]

    async def exists(self, key: str) -> bool:
        return key in self._meta or key in self._chunks

    # --- writes: refused -----------------------------------------------------------
    async def set(self, key: str, value) -> None:
        raise ReadOnlyError(f"octavo's ZarrStore is read-only (cannot set {key!r}); write through octavo.Array")

    async def set_if_not_exists(self, key: str, value) -> None:
        await self.set(key, value)

    async def delete(self, key: str) -> None:
        raise ReadOnlyError(f"octavo's ZarrStore is read-only (cannot delete {key!r})")

    # --- listing ----------------------------------------------------------------------
    async def list(self) -> AsyncIterator[str]:
        for k in self._keys:
            yield k

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for k in self._keys:
            if k.startswith(prefix):
                yield k

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/")
        seen = set()
        for k in self._keys:
            if prefix == "":
                name = k.split("/")[0]
            elif k.startswith(prefix + "/"):
                name = k[len(prefix) + 1:].split("/")[0]
            else:
                continue
            if name not in seen:
                seen.add(name)
                yield name
