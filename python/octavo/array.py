"""n-d arrays: numpy-style reads and writes over chunked Zarr v3 data in a bundle.

``bundle.create_array(path, data=None, shape=..., dtype=..., chunks=None, compressor='zstd',
level=None, shuffle=False, fill_value=None)`` and ``bundle[path]`` return an :class:`Array`.
Every write (``a[...] = x``, ``append``, ``resize``) is one atomic commit; readers that
opened the bundle earlier keep seeing the old contents.
"""
from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _octavo
from .attrs import attrs_to_json
from .enums import Compressor, Shuffle
from .errors import InvalidArgumentError, OctavoIndexError, SchemaError, check_text
from .node import Node

if TYPE_CHECKING:
    import dask.array
    import zarr

    from .bundle import Bundle
    from .zarr import ZarrStore

SUPPORTED_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                    "float16", "float32", "float64", "complex64", "complex128")
# Plus fixed-width strings: numpy "S<n>" (Zarr null_terminated_bytes) and "U<n>" (Zarr fixed_length_utf32).
COMPRESSORS = tuple(c.value for c in Compressor)


def _dtype_name(dtype) -> str:
    """numpy dtype -> octavo's name (byte order is dropped: data is converted to little-endian)."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise SchemaError(f"not a numpy dtype: {dtype!r}") from e
    if dt.kind == "S" and dt.itemsize > 0:
        return f"S{dt.itemsize}"
    if dt.kind == "U" and dt.itemsize > 0:
        return f"U{dt.itemsize // 4}"
    if dt.name not in SUPPORTED_DTYPES or dt.fields is not None:
        raise SchemaError(f"unsupported array dtype {dt} (supported: {', '.join(SUPPORTED_DTYPES)}, "
                          f"S<n> bytes, U<n> unicode)")
    return dt.name


def set_chunk_cache_size(nbytes: int) -> None:
    """Size of the process-wide cache of decoded array chunks (default 32 MiB; 0 = off)."""
    _octavo.set_chunk_cache_size(int(nbytes))


def chunk_cache_size() -> int:
    return _octavo.chunk_cache_size()


def _fill_arg(value):
    """numpy scalars as the Python values the engine checks (0-d arrays too)."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


def _parse_key(key, shape: tuple[int, ...]):
    """Basic numpy indexing -> (starts, stops, steps, selection shape, result shape)."""
    if not isinstance(key, tuple):
        key = (key,)
    ndim = len(shape)
    n_ell = sum(1 for k in key if k is Ellipsis)
    if n_ell > 1:
        raise OctavoIndexError("an index can only have a single ellipsis ('...')")
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > ndim:
        raise OctavoIndexError(f"too many indices for array: array is {ndim}-dimensional, but {n_real} were indexed")
    fill = (slice(None),) * (ndim - n_real)
    if n_ell:
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + fill + key[i + 1:]
    else:
        key = key + fill
    starts, stops, steps, sel_shape, out_shape = [], [], [], [], []
    dim = 0
    for k in key:
        if k is None:
            out_shape.append(1)
            continue
        n = shape[dim]
        if isinstance(k, slice):
            s, e, st = k.indices(n)
            # A step beyond the axis picks at most one element: the same selection with a step
            # that fits the engine's int64 (numpy accepts a[::2**63]).
            st = max(-max(n, 1), min(st, max(n, 1)))
            cnt = len(range(s, e, st))
            starts.append(s)
            stops.append(e)
            steps.append(st)
            sel_shape.append(cnt)
            out_shape.append(cnt)
        elif isinstance(k, (bool, np.bool_)):
            raise OctavoIndexError("boolean indices are not supported (basic indexing only)")
        else:
            try:
                i = operator.index(k)
            except TypeError:
                raise OctavoIndexError(
                    f"octavo arrays support basic indexing only (integers, slices, ..., None); got {type(k).__name__}"
                ) from None
            j = i + n if i < 0 else i
            if not 0 <= j < n:
                raise OctavoIndexError(f"index {i} is out of bounds for axis {dim} with size {n}")
            starts.append(j)
            stops.append(j + 1)
            steps.append(1)
            sel_shape.append(1)
        dim += 1
    return starts, stops, steps, tuple(sel_shape), tuple(out_shape)


def _as_array_data(value, dtype: np.dtype, what: str) -> np.ndarray:
    """Convert values to write; refuses lossy kind changes (float -> int, ...)."""
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        if isinstance(value, float) and dtype.kind in "biu":
            raise SchemaError(f"{what}: cannot write the float {value!r} to a {dtype} array (cast it first)")
        try:
            return np.asarray(value, dtype=dtype) if dtype.kind != "b" or isinstance(value, bool) \
                else np.asarray(bool(value))
        except (OverflowError, ValueError) as e:
            raise SchemaError(f"{what}: {value!r} does not fit dtype {dtype}: {e}") from e
    arr = np.asarray(value)
    if arr.dtype != dtype:
        if dtype.kind in "SU":
            if arr.dtype.kind != dtype.kind:
                raise SchemaError(f"{what}: cannot write {arr.dtype} data to a {dtype} array (use "
                                  f"{'bytes' if dtype.kind == 'S' else 'str'} values)")
            if arr.dtype.itemsize > dtype.itemsize:
                longest = max((len(x) for x in arr.reshape(-1).tolist()), default=0)
                if longest > dtype.itemsize // (4 if dtype.kind == "U" else 1):
                    raise SchemaError(f"{what}: a string of length {longest} does not fit dtype {dtype}")
        elif arr.dtype.kind not in "biufc" or not np.can_cast(arr.dtype, dtype, casting="same_kind"):
            raise SchemaError(f"{what}: cannot write {arr.dtype} data to a {dtype} array (cast it first)")
    return arr


class Array(Node):
    """An n-d array node. Mirrors numpy / zarr: ``shape``, ``dtype``, ``chunks``, basic slicing."""

    kind = "array"

    def __init__(self, bundle: Bundle, path: str, native: _octavo.Array | None = None):
        super().__init__(bundle, path)
        self._native = native or _octavo.open_array(bundle._native, path)
        self._dtype: np.dtype | None = None

    # --- metadata (manifest only) ---------------------------------------------
    def info(self) -> dict:
        d = self._native.info()
        d["shape"] = tuple(d["shape"])
        d["chunks"] = tuple(d["chunks"])
        d["fill_value"] = np.frombuffer(d.pop("fill_element"), dtype=np.dtype(d["dtype"]))[0]
        return d

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._native.shape())

    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            self._dtype = np.dtype(self._native.dtype())
        return self._dtype

    @property
    def chunks(self) -> tuple[int, ...]:
        return tuple(self._native.info()["chunks"])

    @property
    def fill_value(self) -> Any:
        return self.info()["fill_value"]

    @property
    def compressor(self) -> str:
        return self._native.info()["compressor"]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def nchunks_stored(self) -> int:
        return self._native.info()["num_chunks_stored"]

    def __len__(self) -> int:
        s = self.shape
        if not s:
            raise TypeError("len() of a 0-d array")
        return s[0]

    # --- reads -----------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:  # an ndarray, or a numpy scalar for a single element
        shape = self.shape
        starts, stops, steps, sel_shape, out_shape = _parse_key(key, shape)
        out = np.empty(sel_shape, dtype=self.dtype)
        if out.size:
            self._native.read(starts, stops, steps, out.reshape(-1).view(np.uint8))
        out = out.reshape(out_shape)
        return out[()] if out_shape == () else out

    def read(self) -> np.ndarray:
        """The whole array as a numpy array."""
        return self[...]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        a = self[...]
        return a if dtype is None else a.astype(dtype, copy=False)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    # --- writes (each one commit) ------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        starts, stops, steps, sel_shape, out_shape = _parse_key(key, self.shape)
        dtype = self.dtype
        arr = _as_array_data(value, dtype, f"array {self._path}")
        try:
            arr = np.broadcast_to(arr, out_shape)
        except ValueError:
            raise InvalidArgumentError(
                f"array {self._path}: could not broadcast data of shape {arr.shape} into a selection of shape "
                f"{out_shape}") from None
        data = np.ascontiguousarray(arr.reshape(sel_shape), dtype=dtype)
        if data.size == 0:
            return
        self._native.write(starts, stops, steps, data.reshape(-1).view(np.uint8))

    def append(self, data: Any, axis: int = 0) -> None:
        """Grow ``axis`` by ``data``'s length along it and store ``data`` there (PyTables EArray).

        ``data`` has the array's shape on every other axis; one fewer dimension appends one
        slice. One commit.
        """
        nd = self.ndim
        if nd == 0:
            raise InvalidArgumentError(f"array {self._path} is 0-dimensional; nothing to append along")
        ax = operator.index(axis)
        if ax < 0:
            ax += nd
        if not 0 <= ax < nd:
            raise OctavoIndexError(f"axis {axis} is out of bounds for array of dimension {nd}")
        arr = _as_array_data(data, self.dtype, f"append to array {self._path}")
        if arr.ndim == nd - 1:
            arr = np.expand_dims(arr, ax)
        if arr.ndim != nd:
            raise InvalidArgumentError(
                f"array {self._path} has shape {self.shape}: cannot append data of shape {arr.shape}")
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        self._native.append(arr.reshape(-1).view(np.uint8), list(arr.shape), ax)

    def resize(self, *shape: Any) -> None:  # resize(3, 4) or resize((3, 4))
        """Change the shape (same number of dimensions); new elements read as fill_value."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        self._native.resize([operator.index(s) for s in shape])

    # --- Zarr interop ---------------------------------------------------------------
    def zarr_store(self) -> ZarrStore:
        """A read-only zarr-python Store exposing this array at the bundle handle's commit."""
        from .zarr import ZarrStore
        return ZarrStore(self._bundle, self._path)

    def to_zarr(self) -> zarr.Array:
        """This array as a read-only ``zarr.Array`` (usable by dask.array / xarray)."""
        import zarr
        return zarr.open_array(store=self.zarr_store(), mode="r")

    def to_dask(self) -> dask.array.Array:
        """This array as a lazy ``dask.array.Array`` read through its Zarr store at the bundle
        handle's commit (``dask.array.from_zarr``): one dask chunk per stored chunk, and the
        graph stays valid in other processes (the store names the commit's immutable files)."""
        import dask.array as da
        import zarr
        from dask.base import tokenize

        store = self.zarr_store()  # repr: bundle path, node and commit, which fix the contents
        return da.from_zarr(zarr.open_array(store=store, mode="r"), name=f"octavo-array-{tokenize(repr(store))}")

    def _repr_html_(self) -> str:
        """Notebooks: shape, dtype, chunks, codec and the stored size against the logical one."""
        import html

        i = self._native.info()
        ratio = f"{i['logical_bytes'] / i['size_bytes']:.1f}x" if i["size_bytes"] else "-"
        return (f"<div><b>octavo array</b> <code>{html.escape(self._path)}</code><table>"
                f"<tr><td>shape</td><td>{tuple(i['shape'])}</td></tr><tr><td>dtype</td><td>{i['dtype']}</td></tr>"
                f"<tr><td>chunks</td><td>{tuple(i['chunks'])} ({i['num_chunks_stored']} stored)</td></tr>"
                f"<tr><td>codec</td><td>{html.escape(i['codecs'])}</td></tr>"
                f"<tr><td>stored</td><td>{i['size_bytes']:,} bytes of {i['logical_bytes']:,} (ratio {ratio})</td>"
                f"</tr></table></div>")

    def __repr__(self) -> str:
        i = self._native.info()
        return (f"<octavo.Array {self._path!r} shape={tuple(i['shape'])} dtype={i['dtype']} "
                f"chunks={tuple(i['chunks'])} compressor={i['compressor']}>")


def _shuffle_mode(shuffle) -> tuple[bool, bool]:
    """shuffle=True/False/'shuffle'/'noshuffle'/'bitshuffle' -> (byte shuffle, bit shuffle)."""
    if shuffle is None or isinstance(shuffle, (bool, np.bool_)):
        return bool(shuffle), False
    mode = str(shuffle).lower()
    if mode not in ("shuffle", "noshuffle", "bitshuffle"):
        raise InvalidArgumentError(f"shuffle={shuffle!r}: use True, False, 'shuffle', 'noshuffle' or 'bitshuffle'")
    return mode == "shuffle", mode == "bitshuffle"


def create_array(bundle, path: str, data=None, *, shape=None, dtype=None, chunks=None,
                 compressor: str | Compressor | None = "zstd", level: int | None = None,
                 shuffle: bool | str | Shuffle = False, fill_value=None, attrs: dict | None = None,
                 create_parents: bool = True, blocksize: int = 0) -> Array:
    """Implementation of :meth:`octavo.Bundle.create_array`.

    ``compressor``: zstd (default), lz4, gzip, zlib, none, or blosc[:cname] (cname blosclz,
    lz4, lz4hc, zlib, zstd; plain "blosc" is blosc:zstd). ``shuffle``: True/'shuffle' (byte
    shuffle), 'bitshuffle' (blosc only) or False. ``blocksize``: blosc block size (0 = auto).
    """
    check_text(path, "array path")
    buf = None
    if data is not None:
        arr = np.asarray(data)
        if dtype is None:
            dtype = arr.dtype
        dname = _dtype_name(dtype)
        arr = _as_array_data(arr, np.dtype(dname), f"array {path}")
        if shape is not None and tuple(shape) != arr.shape:
            raise InvalidArgumentError(f"array {path}: shape {tuple(shape)} does not match the data's {arr.shape}")
        shape = arr.shape
        arr = np.ascontiguousarray(arr, dtype=np.dtype(dname))
        buf = arr.reshape(-1).view(np.uint8)
    else:
        if shape is None:
            raise InvalidArgumentError(f"create_array({path!r}) needs data or a shape")
        if dtype is None:
            dtype = "float64"
        dname = _dtype_name(dtype)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = [operator.index(s) for s in shape]
    if chunks is not None:
        if isinstance(chunks, (int, np.integer)):
            chunks = (int(chunks),) if len(shape) == 1 else None
            if chunks is None:
                raise InvalidArgumentError("chunks must have one entry per dimension")
        chunks = [operator.index(c) for c in chunks]
    comp = "none" if compressor is None else str(compressor).lower()
    byte_shuffle, bit_shuffle = _shuffle_mode(shuffle)
    attrs_json = attrs_to_json(attrs, path) if attrs else ""
    # The array and its attributes: one commit.
    native = _octavo.create_array(bundle._native, path, shape, dname, chunks, comp,
                                  -1 if level is None else int(level), byte_shuffle,
                                  _fill_arg(fill_value), buf, create_parents, bit_shuffle,
                                  int(blocksize), attrs_json)
    return Array(bundle, native.path, native)


def import_zarr(bundle, source, path: str, *, compressor: str | Compressor | None = None,
                level: int | None = None, shuffle: bool | str | Shuffle = False, chunks=None, block_bytes: int = 64 << 20):
    """Copy a zarr-python array or group (or a Zarr path/URL) into the bundle at ``path``.

    Shapes, dtypes, chunk shapes, fill values and attributes are kept. With the defaults
    (``compressor=None``, ``chunks=None``) an array stored in a local directory whose data
    type and codecs octavo decodes (blosc, zstd, gzip, numcodecs lz4/zlib/shuffle, ...) is
    copied by the C++ engine chunk file by chunk file, byte for byte (each chunk is checked
    by decoding it once). Anything else (remote stores, other codecs, or an explicit
    ``compressor``/``chunks``) is decoded by zarr-python and re-encoded with octavo's codecs
    (``compressor`` default zstd). The whole import is one commit.
    """
    check_text(path, "node path")
    import zarr

    from .errors import CorruptionError, NotFoundError

    src = source
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        if "://" not in where and not os.path.exists(where):
            raise NotFoundError(f"no Zarr data at {where!r}")
        meta_file = os.path.join(where, "zarr.json")
        if "://" not in where and os.path.isfile(meta_file):
            try:
                with open(meta_file, "rb") as f:
                    meta = json.loads(f.read())
            except ValueError as e:
                raise CorruptionError(f"{meta_file} is not valid JSON: {e}") from e
            if not isinstance(meta, dict) or meta.get("zarr_format") != 3 or \
                    meta.get("node_type") not in ("array", "group"):
                raise CorruptionError(f"{meta_file} is not Zarr v3 metadata (needs zarr_format 3 and node_type "
                                      f"'array' or 'group')")
        try:
            src = zarr.open(store=where, mode="r")
        except Exception as e:  # zarr raises many kinds for bad metadata
            raise CorruptionError(f"cannot open Zarr data at {where!r}: {type(e).__name__}: {e}") from e
    if not isinstance(src, (zarr.Array, zarr.Group)):
        raise InvalidArgumentError(f"import_zarr needs a zarr.Array, zarr.Group or a path, got {type(src).__name__}")

    own_txn = not bundle._native.in_transaction()
    if own_txn:
        bundle._native.begin_transaction()
    try:
        result = _import_node(bundle, src, path, compressor, level, shuffle, chunks, block_bytes)
        if own_txn:
            bundle._native.commit_transaction(f"import zarr into {path}")
    except BaseException:
        if own_txn:
            bundle._native.abort_transaction()
        raise
    return bundle[result]


def _local_dir(src) -> str | None:
    """The directory holding a zarr-python node, if it lives in a local directory store."""
    try:
        from zarr.storage import LocalStore
        store = src.store
        if isinstance(store, LocalStore):
            d = os.path.join(str(store.root), src.path) if src.path else str(store.root)
            return d if os.path.isfile(os.path.join(d, "zarr.json")) else None
    except Exception:
        pass
    return None


def _import_node(bundle, src, path, compressor, level, shuffle, chunks, block_bytes) -> str:
    import zarr

    from .errors import OctavoNotImplementedError
    if isinstance(src, zarr.Array) and compressor is None and chunks is None:
        d = _local_dir(src)
        if d is not None:
            try:
                return _octavo.import_zarr_array(bundle._native, d, path).path
            except OctavoNotImplementedError:
                pass  # a data type or codec octavo does not decode: let zarr-python decode it
    attrs = {k: v for k, v in dict(src.attrs).items()}
    if isinstance(src, zarr.Group):
        if not bundle._native.exists(path):
            bundle.create_group(path)
        for name, child in sorted(src.members(), key=lambda kv: kv[0]):
            _import_node(bundle, child, path.rstrip("/") + "/" + name, compressor, level, shuffle, None, block_bytes)
        node = bundle[path]
        node.attrs.update(attrs)
        return node.path
    dname = _dtype_name(src.dtype)
    src_chunks = tuple(src.chunks)
    fill = src.fill_value
    if fill is None:
        fill = 0
    a = create_array(bundle, path, shape=src.shape, dtype=dname, chunks=chunks or src_chunks,
                     compressor=compressor or "zstd", level=level, shuffle=shuffle, fill_value=fill, attrs=attrs)
    shape = src.shape
    if len(shape) == 0:
        a[...] = src[...]
        return a.path
    if 0 in shape:
        return a.path
    # Copy in blocks of whole chunk rows along axis 0, bounded in memory.
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dname).itemsize
    step = max(1, block_bytes // max(1, row_bytes * src_chunks[0])) * src_chunks[0]
    for r0 in range(0, shape[0], step):
        r1 = min(shape[0], r0 + step)
        block = np.asarray(src[r0:r1])
        a[r0:r1] = block
    return a.path
