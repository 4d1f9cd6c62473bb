"""Node attributes: JSON values, plus numpy scalars and small numpy arrays in a typed form.

A numpy value is stored as one JSON object with the single key ``"@ndarray"``
(docs/format.md, section 4.2.1)::

    {"@ndarray": {"dtype": "<f4", "shape": [2, 3], "data": [1.0, 2.0, ...]}}
    {"@ndarray": {"dtype": "<c16", "shape": [], "base64": "..."}}

``dtype`` is numpy's ``dtype.str`` (byte order, kind, size), ``shape`` is ``[]`` for a
scalar. Bool, integer and finite float values are stored as a flat C-order JSON list
(``data``) so other tools can read them; everything else (complex, NaN/inf, float16,
datetime64/timedelta64, fixed-width bytes/str) as the little-endian raw bytes in base64
(``base64``). Read back, the value has the same dtype and shape (a numpy scalar for
``shape == []``). Nothing is ever pickled: object arrays are refused.
"""
from __future__ import annotations

import json
import math
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any

from . import _octavo
from .errors import InvalidArgumentError, SchemaError, check_text

TYPED_KEY = "@ndarray"
MAX_ARRAY_BYTES = 1 << 20  # attributes are metadata; larger arrays belong in create_array (kMaxTypedValueBytes)


def _np():
    import numpy as np
    return np


def _encode_numpy(value, where: str) -> dict:
    """The engine's codec (octavo/typed_value.h) writes the typed form; numpy only supplies
    dtype, shape and little-endian bytes."""
    np = _np()
    arr = np.asarray(value)
    if arr.dtype.hasobject or arr.dtype.kind == "V":
        raise SchemaError(f"{where}: numpy dtype {arr.dtype} cannot be an attribute "
                          "(object and structured arrays are not stored; nothing is pickled)")
    if arr.nbytes > MAX_ARRAY_BYTES:  # before any copy of a large array
        raise SchemaError(f"{where}: a {arr.nbytes:,}-byte array is too large for an attribute "
                          f"(limit {MAX_ARRAY_BYTES:,} bytes); store it with create_array instead")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    text = _octavo.encode_typed_value(arr.dtype.str, list(arr.shape), np.ascontiguousarray(arr).tobytes(), where)
    return json.loads(text)


def _decode_numpy(spec: Any, where: str):
    np = _np()
    dtype, shape, raw = _octavo.decode_typed_value(json.dumps({TYPED_KEY: spec}), where)
    arr = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    return arr[()] if not shape else arr


def encode(value: Any, where: str = "attribute") -> Any:
    """A Python/numpy value -> a JSON-serialisable value (numpy values typed)."""
    np = _np()
    if isinstance(value, (np.generic, np.ndarray)):
        return _encode_numpy(value, where)
    if isinstance(value, dict):
        if TYPED_KEY in value:
            raise SchemaError(f"{where}: the key {TYPED_KEY!r} is reserved for typed numpy values")
        return {str(k): encode(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v, where) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        # NaN/Infinity are not JSON: typed like a numpy float64 (which is a float too)
        return _encode_numpy(np.float64(value), where)
    return value


def decode(value: Any, where: str = "attribute") -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, dict):
        if len(value) == 1 and TYPED_KEY in value:
            return _decode_numpy(value[TYPED_KEY], where)
        return {k: decode(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, where) for v in value]
    return value


def to_json(value: Any, where: str) -> str:
    try:
        encoded = encode(value, where)  # its own SchemaErrors pass through unchanged
    except RecursionError:
        raise InvalidArgumentError(f"{where}: the value is nested too deeply to store") from None
    try:
        text = json.dumps(encoded, allow_nan=True, ensure_ascii=False)
    except RecursionError:
        raise InvalidArgumentError(f"{where}: the value is nested too deeply to store") from None
    except TypeError as e:
        raise SchemaError(
            f"{where}: {type(value).__name__} is not JSON-serialisable "
            "(attributes hold JSON values, numpy scalars and arrays; nothing is pickled)"
        ) from e
    return check_text(text, f"{where}: value")


def check_attr_name(key: Any, where: str) -> None:
    if not isinstance(key, str):
        raise InvalidArgumentError(f"attribute names on {where} are strings, not {type(key).__name__} ({key!r})")
    check_text(key, f"attribute name on {where}")


def attrs_to_json(attrs: dict, where: str) -> str:
    """Several attributes as one JSON object text, for the engine calls that store a node's
    attributes in one commit (create with attributes, ``attrs.update``)."""
    parts = []
    for k, v in attrs.items():
        check_attr_name(k, where)
        parts.append(json.dumps(k) + ":" + to_json(v, f"attribute {k!r} on {where}"))
    return "{" + ",".join(parts) + "}"


class AttributeSet:
    """Attributes of a node; dict-like, and PyTables-like (``node.attrs.units = 'm'``)."""

    def __init__(self, bundle, path: str):
        object.__setattr__(self, "_bundle", bundle)
        object.__setattr__(self, "_path", path)

    def _raw(self) -> dict:
        return json.loads(self._bundle._native.get_attrs(self._path))

    def _all(self) -> dict:
        return {k: decode(v, f"attribute {k!r} of {self._path}") for k, v in self._raw().items()}

    def __getitem__(self, key: str) -> Any:
        attrs = self._raw()
        if key not in attrs:
            raise KeyError(f"node {self._path!r} has no attribute {key!r}")
        return decode(attrs[key], f"attribute {key!r} of {self._path}")

    def __setitem__(self, key: str, value: Any) -> None:
        check_attr_name(key, self._path)
        self._bundle._native.set_attr(self._path, key, to_json(value, f"attribute {key!r} on {self._path}"))

    def __delitem__(self, key: str) -> None:
        check_text(key, f"attribute name on {self._path}")
        self._bundle._native.delete_attr(self._path, key)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        del self[key]

    def __contains__(self, key: str) -> bool:
        return key in self._raw()

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw())

    def __len__(self) -> int:
        return len(self._raw())

    def keys(self) -> KeysView[str]:
        return self._raw().keys()

    def items(self) -> ItemsView[str, Any]:
        return self._all().items()

    def values(self) -> ValuesView[Any]:
        return self._all().values()

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def update(self, other: dict | None = None, **kwargs: Any) -> None:
        """Set several attributes in one commit: all of them or, on any error, none."""
        items = {**(other or {}), **kwargs}
        if items:
            self._bundle._native.set_attrs(self._path, attrs_to_json(items, self._path))

    def to_dict(self) -> dict:
        return self._all()

    def __repr__(self) -> str:
        return f"AttributeSet({self._path!r}, {self._all()!r})"
