"""xarray backend: ``xr.open_dataset("exp.octavo", engine="octavo", group="/volumes")``.

A group's arrays become the dataset's variables, read lazily through octavo (nothing but the
manifest is read until values are asked for; ``chunks={}`` gives dask arrays on the stored
chunk grid). Dimension names come from the array's ``_ARRAY_DIMENSIONS`` attribute (the
xarray-on-Zarr convention), else its Zarr ``dimension_names``, else ``dim_0, dim_1, ...``
(``<array>_dim_<i>`` where ``dim_<i>`` already has another length in the group). Attributes of
the arrays and of the group are copied; CF decoding (scale/offset, times, coordinates) is
xarray's own. ``commit=`` reads an older commit; every variable sees one commit.
``xr.open_datatree(path, engine="octavo")`` opens every group of the bundle (or of ``group=``)
as a node of a DataTree. Tables, file nodes and soft links to non-arrays are not variables.

Registered as the ``octavo`` engine by the ``xarray.backends`` entry point in pyproject.toml.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.backends.common import AbstractDataStore, datatree_from_dict_with_io_cleanup
from xarray.backends.store import StoreBackendEntrypoint
from xarray.core import indexing
from xarray.core.variable import Variable

from .array import Array
from .bundle import Bundle
from .bundle import open as _open
from .errors import InvalidArgumentError, SchemaError, check_fspath, check_text
from .group import Group
from .link import SoftLink

DIMENSION_KEY = "_ARRAY_DIMENSIONS"


class OctavoBackendArray(BackendArray):
    """One octavo array of an :class:`OctavoDataStore`, indexed lazily (basic indexing through
    octavo; outer and vectorized indexing read the bounding basic selection, then index it in
    numpy)."""

    def __init__(self, store: OctavoDataStore, path: str, shape: tuple[int, ...], dtype: np.dtype):
        self.store = store
        self.path = path
        self.shape = shape
        self.dtype = dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._read)

    def _read(self, key: tuple) -> np.ndarray:
        return np.asarray(self.store.array(self.path)[key])


class OctavoDataStore(AbstractDataStore):
    """The arrays and attributes of group ``group`` of the bundle at ``bundle_path`` as of
    ``commit`` (default: the newest). Picklable: a copy in another process reopens the bundle
    read-only at the same commit on first read."""

    def __init__(self, bundle_path: str | os.PathLike, group: str | None = None, commit: int | None = None):
        self._path = check_fspath(bundle_path, "bundle path")
        self._lock = threading.Lock()
        self._bundle: Bundle | None = None
        self._arrays: dict[str, Array] = {}
        b = self._open(commit)
        try:
            self._commit = int(b.commit["id"])
            check_text(group, "group")
            node = b[group or "/"]
            if not isinstance(node, Group):
                kind = ("an " if node.kind[:1] in "aeiou" else "a ") + node.kind
                raise SchemaError(f"{group!r} in bundle {self._path} is {kind}, not a group: the octavo "
                                  "xarray backend opens a group's arrays (group='/' for the root)")
            self._group = node.path
        except BaseException:
            self.close()
            raise

    def _open(self, commit: int | None) -> Bundle:
        self._bundle = _open(self._path, "r", commit=commit)
        return self._bundle

    def _handle(self) -> Bundle:
        with self._lock:
            return self._bundle if self._bundle is not None else self._open(self._commit)

    def __getstate__(self) -> dict:
        return {"path": self._path, "group": self._group, "commit": self._commit}

    def __setstate__(self, state: dict) -> None:
        self._path, self._group, self._commit = state["path"], state["group"], state["commit"]
        self._lock = threading.Lock()
        self._bundle = None
        self._arrays = {}

    @property
    def commit(self) -> int:
        return self._commit

    @property
    def group(self) -> str:
        return self._group

    def array(self, path: str) -> Array:
        b = self._handle()
        with self._lock:
            a = self._arrays.get(path)
            if a is None:
                a = self._arrays[path] = Array(b, path)
            return a

    def _members(self) -> list[tuple[str, Array]]:
        b = self._handle()
        out = []
        group = b[self._group]
        assert isinstance(group, Group)  # checked in __init__, and the commit does not change
        for child in group:
            node = b[child.path] if isinstance(child, SoftLink) else child
            if isinstance(node, Array):
                out.append((child.name, node))
        return out

    def get_variables(self) -> dict[str, Variable]:
        members = [(name, a, a.attrs.to_dict(), a.info()) for name, a in self._members()]
        dims = _dimension_names([(name, a.path, attrs, info) for name, a, attrs, info in members])
        variables = {}
        for (name, a, attrs, info), d in zip(members, dims, strict=True):
            attrs.pop(DIMENSION_KEY, None)
            chunks = tuple(info["chunks"])
            encoding = {"chunks": chunks, "preferred_chunks": dict(zip(d, chunks, strict=True)), "fill_value": info["fill_value"]}
            data = indexing.LazilyIndexedArray(OctavoBackendArray(self, a.path, tuple(info["shape"]),
                                                                  np.dtype(info["dtype"])))
            variables[name] = Variable(d, data, attrs, encoding)
        return variables

    def get_attrs(self) -> dict:
        return self._handle()[self._group].attrs.to_dict()

    def get_dimensions(self) -> dict[Any, int]:
        sizes: dict[Any, int] = {}
        for v in self.get_variables().values():
            sizes.update(v.sizes)
        return sizes

    def get_encoding(self) -> dict:
        return {"octavo_bundle": self._path, "octavo_commit": self._commit, "octavo_group": self._group}

    def close(self, **kwargs: Any) -> None:
        with self._lock:
            if self._bundle is not None:
                self._bundle.close()
            self._bundle = None
            self._arrays = {}


def _dimension_names(members: list[tuple[str, str, dict, dict]]) -> list[tuple[str, ...]]:
    """Dimension names of each (name, path, attributes, info) array of one group."""
    explicit: list[tuple[str, ...] | None] = []
    sizes: dict[str, int] = {}
    for _, path, attrs, info in members:
        shape = tuple(info["shape"])
        names = attrs.get(DIMENSION_KEY)
        if names is None:
            zn = json.loads(info["zarr_json"]).get("dimension_names")
            names = zn if zn is not None and all(isinstance(n, str) for n in zn) else None
        if names is not None:
            if (not isinstance(names, (list, tuple)) or len(names) != len(shape)
                    or not all(isinstance(n, str) and n for n in names)):
                raise SchemaError(f"array {path}: dimension names {names!r} (attribute {DIMENSION_KEY} or "
                                  f"Zarr dimension_names) need one non-empty string per dimension of shape {shape}")
            names = tuple(names)
            for n, s in zip(names, shape, strict=True):
                sizes.setdefault(n, s)
        explicit.append(names)
    out = []
    for (name, _, _, info), names in zip(members, explicit, strict=True):
        if names is None:
            shape = tuple(info["shape"])
            picked = []
            for i, s in enumerate(shape):
                n = f"dim_{i}" if sizes.get(f"dim_{i}", s) == s else f"{name}_dim_{i}"
                sizes.setdefault(n, s)
                picked.append(n)
            names = tuple(picked)
        out.append(names)
    return out


def _bundle_path(filename_or_obj: Any) -> str:
    if isinstance(filename_or_obj, Bundle):
        return filename_or_obj._native.path
    if not isinstance(filename_or_obj, (str, bytes, os.PathLike)):
        raise InvalidArgumentError(f"the octavo engine opens a bundle directory path, got {type(filename_or_obj).__name__}")
    return check_fspath(filename_or_obj, "bundle path")


def _commit_of(filename_or_obj: Any, commit: int | None) -> int | None:
    if commit is None and isinstance(filename_or_obj, Bundle):
        return int(filename_or_obj.commit["id"])  # the commit that handle sees
    return commit


class OctavoBackendEntrypoint(BackendEntrypoint):
    """``engine="octavo"``: a group of an octavo bundle as a Dataset, the bundle as a DataTree."""

    description = "Open the arrays of an octavo bundle (a directory with an OCTAVO file) in xarray"
    supports_groups = True
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "group", "commit", "mask_and_scale",
                               "decode_times", "concat_characters", "decode_coords", "use_cftime",
                               "decode_timedelta")

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        if isinstance(filename_or_obj, Bundle):
            return True
        if not isinstance(filename_or_obj, (str, os.PathLike)):
            return False
        path = os.fspath(filename_or_obj)
        return os.path.isfile(os.path.join(path, "OCTAVO")) or str(path).rstrip("/").endswith(".octavo")

    def open_dataset(self, filename_or_obj: Any, *, drop_variables: str | Iterable[str] | None = None,
                     group: str | None = None, commit: int | None = None, mask_and_scale: bool = True,
                     decode_times: bool = True, concat_characters: bool = True, decode_coords: bool = True,
                     use_cftime: bool | None = None, decode_timedelta: bool | None = None) -> Any:
        store = OctavoDataStore(_bundle_path(filename_or_obj), group, _commit_of(filename_or_obj, commit))
        try:
            return StoreBackendEntrypoint().open_dataset(
                store, mask_and_scale=mask_and_scale, decode_times=decode_times,
                concat_characters=concat_characters, decode_coords=decode_coords, drop_variables=drop_variables,
                use_cftime=use_cftime, decode_timedelta=decode_timedelta)
        except BaseException:
            store.close()
            raise

    def open_groups_as_dict(self, filename_or_obj: Any, *, drop_variables: str | Iterable[str] | None = None,
                            group: str | None = None, commit: int | None = None, mask_and_scale: bool = True,
                            decode_times: bool = True, concat_characters: bool = True, decode_coords: bool = True,
                            use_cftime: bool | None = None, decode_timedelta: bool | None = None) -> dict[str, Any]:
        path = _bundle_path(filename_or_obj)
        top = OctavoDataStore(path, group, _commit_of(filename_or_obj, commit))
        try:
            b = top._handle()
            groups = [g.path for g in b.walk_groups(top.group)]
        finally:
            top.close()
        if top.group not in groups:
            groups.insert(0, top.group)
        out: dict[str, Any] = {}
        try:
            for g in groups:
                rel = g[len(top.group):].strip("/") if top.group != "/" else g.strip("/")
                out["/" + rel] = self.open_dataset(
                    path, group=g, commit=top.commit, drop_variables=drop_variables, mask_and_scale=mask_and_scale,
                    decode_times=decode_times, concat_characters=concat_characters, decode_coords=decode_coords,
                    use_cftime=use_cftime, decode_timedelta=decode_timedelta)
        except BaseException:
            for ds in out.values():
                ds.close()
            raise
        return out

    def open_datatree(self, filename_or_obj: Any, *, drop_variables: str | Iterable[str] | None = None,
                      group: str | None = None, commit: int | None = None, mask_and_scale: bool = True,
                      decode_times: bool = True, concat_characters: bool = True, decode_coords: bool = True,
                      use_cftime: bool | None = None, decode_timedelta: bool | None = None) -> Any:
        return datatree_from_dict_with_io_cleanup(self.open_groups_as_dict(
            filename_or_obj, drop_variables=drop_variables, group=group, commit=commit,
            mask_and_scale=mask_and_scale, decode_times=decode_times, concat_characters=concat_characters,
            decode_coords=decode_coords, use_cftime=use_cftime, decode_timedelta=decode_timedelta))
