"""A read-only zarr-python (v3) Store over an octavo array or group at one commit.

    import zarr, octavo
    b = octavo.open("exp.octavo")
    z = zarr.open_array(store=octavo.zarr.ZarrStore(b, "/images"), mode="r")
    g = zarr.open_group(store=octavo.zarr.ZarrStore(b, "/", commit=3), mode="r")

Keys map straight onto the bundle: ``zarr.json`` is the node's Zarr metadata (attributes =
the node's attributes) and ``c/0/1/2`` the immutable chunk file named in the manifest of the
chosen commit, served byte for byte through the engine (the bundle's Env; the manifest's size and
CRC checked: a damaged chunk is a CorruptionError). Chunks the manifest does not list are absent
(zarr reads them as fill_value). Groups expose their array and group descendants; tables, links
and other kinds are not Zarr nodes and are left out. The key map is taken once, at
construction: the store keeps showing that commit whatever writers do later.
"""
from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest

from . import _octavo
from .errors import ReadOnlyError, check_fspath, check_text


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
        # The store keeps a read-only handle of its own at the chosen commit: chunks are read through
        # the engine (its Env, the manifest's size and CRC checks) whatever the caller does with `bundle`.
        if isinstance(bundle, (str, os.PathLike)):
            native = _open_read_only(bundle, commit)
        else:
            mine = bundle._native
            native = _open_read_only(mine.path, mine.commit_info()["id"] if commit is None else commit)
        try:
            check_text(path, "node path")
            resolved = native.resolve_path(path if path.startswith("/") else "/" + path)
            meta: dict[str, bytes] = {}
            chunks: dict[str, tuple[str, str]] = {}
            for n in native.walk(resolved):
                rel = n["path"][len(resolved):].strip("/") if resolved != "/" else n["path"].strip("/")
                prefix = rel + "/" if rel else ""
                if n["kind"] == "group":
                    gmeta = {"zarr_format": 3, "node_type": "group", "attributes": json.loads(n["attrs_json"])}
                    meta[prefix + "zarr.json"] = json.dumps(gmeta, indent=2).encode()
                elif n["kind"] == "array":
                    arr = _octavo.open_array(native, n["path"])
                    info = arr.info()
                    zmeta = json.loads(info["zarr_json"])
                    meta[prefix + "zarr.json"] = info["zarr_json"].encode()
                    sep = zmeta.get("chunk_key_encoding", {}).get("configuration", {}).get("separator", "/")
                    for key, _file, _size, _crc in arr.chunk_refs():
                        ckey = "c" if key == "" else "c" + sep + key.replace(".", sep)
                        chunks[prefix + ckey] = (n["path"], key)
        except BaseException:
            native.close()
            raise
        self._native = native
        self._bundle_path = native.path
        self._commit = native.commit_info()["id"]
        self._node = resolved
        self._meta = meta
        self._chunks = chunks
        self._arrays: dict[str, _octavo.Array] = {}
        self._keys = sorted(list(meta) + list(chunks))

    def __getstate__(self) -> dict:
        # Picklable (dask ships stores to worker processes): the worker opens its own handle.
        return {"bundle_path": self._bundle_path, "node": self._node, "commit": self._commit}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["bundle_path"], state["node"], state["commit"])  # type: ignore[misc]

    def close(self) -> None:
        super().close()
        self._arrays.clear()
        self._native.close()

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
        array_path, chunk_key = ref
        arr = self._arrays.get(array_path)
        if arr is None:
            arr = self._arrays[array_path] = _octavo.open_array(self._native, array_path)
        return arr.read_stored_chunk(chunk_key)

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
