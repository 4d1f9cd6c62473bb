"""PyTables' API over an octavo bundle: ``import octavo.tables as tables`` runs PyTables code.

Names, positional signatures and meanings follow PyTables 3.x (``open_file``, ``IsDescription``
with ``*Col`` classes, ``create_table(where, name, description, title, filters, expectedrows,
createparents)``, ``Table.where`` yielding rows, ...). Everything is a thin layer over octavo's
own Bundle/Table/Array/Group: reads go through the engine a chunk at a time and hand out row
views; octavo's chunk-wise methods keep their own names on ``octavo.Table``.

What differs: the "file" is an octavo bundle (a directory); each change is a commit, so
``flush()`` only writes rows buffered by ``table.row``. StringCol values are stored as UTF-8
text and read back as fixed-width bytes, as PyTables returns them.
"""
from __future__ import annotations

import io
import os
import re
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from . import bundle as _bundle
from .array import Array as _OArray
from .attrs import AttributeSet
from .enums import Mode
from .errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NoSuchNodeError,
    NotFoundError,
    OctavoIndexError,
    OctavoIOError,
    OctavoNotImplementedError,
    SchemaError,
    check_fspath,
)
from .files import FileNode as _OFileNode
from .group import Group as _OGroup
from .link import SoftLink as _OSoftLink
from .node import Node as _ONode
from .node import _abs, _join
from .table import Table as _OTable

__all__ = [
    "Atom", "BoolAtom", "BoolCol", "CArray", "Col", "ComplexCol", "EArray", "Enum", "EnumCol", "File", "Filters",
    "Float32Atom", "Float32Col", "Float64Atom", "Float64Col", "Group", "Int8Atom", "Int8Col", "Int16Atom",
    "Int16Col", "Int32Atom", "Int32Col", "Int64Atom", "Int64Col", "IsDescription", "Leaf", "Node", "NoSuchNodeError",
    "NodeError", "StringAtom", "StringCol", "Table", "Time32Col", "Time64Col", "UInt8Atom", "UInt8Col", "UInt16Atom",
    "UInt16Col", "UInt32Atom", "UInt32Col", "UInt64Atom", "UInt64Col", "VLArray", "VLStringAtom", "ObjectAtom",
    "Array", "open_file", "is_pytables_file",
]

NodeError = AlreadyExistsError  # PyTables raises NodeError where a node already exists
_ROWS_PER_READ = 65_536  # rows read per engine call when iterating row by row


# --- atoms and columns -------------------------------------------------------------------------

class Atom:
    """A PyTables atom: the type of one element of an array (``Float32Atom()``, ``StringAtom(8)``)."""

    kind = "atom"

    def __init__(self, dtype: Any, shape: Any = (), dflt: Any = None):
        self.dtype = np.dtype(dtype)
        self.shape = _shape_arg(shape)
        self.dflt = dflt if dflt is not None else self.dtype.type(0) if self.dtype.kind != "S" else b""
        self.type = _type_name(self.dtype)
        self.itemsize = self.dtype.itemsize

    @classmethod
    def from_dtype(cls, dtype: Any, dflt: Any = None) -> Atom:
        dt = np.dtype(dtype)
        if dt.subdtype is not None:
            return cls(dt.subdtype[0], dt.subdtype[1], dflt)
        return cls(dt, (), dflt)

    @classmethod
    def from_type(cls, type: str, shape: Any = (), dflt: Any = None) -> Atom:  # noqa: A002 (PyTables' name)
        return cls("S" if type == "string" else "bool" if type == "bool" else type, shape, dflt)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dflt={self.dflt!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Atom) and (self.dtype, self.shape) == (other.dtype, other.shape)

    def __hash__(self) -> int:
        return hash((self.dtype, self.shape))


def _names(dt: np.dtype) -> tuple[str, ...]:
    return dt.names or ()


def _field(dt: np.dtype, name: str) -> np.dtype:
    """The dtype of field ``name`` of a structured dtype (with its subarray shape)."""
    return dt[name]


def _type_name(dt: np.dtype) -> str:
    return "string" if dt.kind == "S" else "bool" if dt.kind == "b" else dt.name


def _shape_arg(shape: Any) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


class Col(Atom):
    """A column of a table description; ``pos`` orders it (PyTables: by pos, then by name)."""

    kind = "col"
    _counter = 0

    def __init__(self, dtype: Any, shape: Any = (), dflt: Any = None, pos: int | None = None, attrs: dict | None = None):
        super().__init__(dtype, shape, dflt)
        self.pos = pos
        self.attrs = dict(attrs or {})
        self._v_pos = pos

    @classmethod
    def from_atom(cls, atom: Atom, pos: int | None = None) -> Col:
        return cls(atom.dtype, atom.shape, atom.dflt, pos)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dflt={self.dflt!r}, pos={self.pos})"


def _make_pair(name: str, dtype: str) -> tuple[type, type]:
    def atom_init(self: Atom, shape: Any = (), dflt: Any = None) -> None:
        Atom.__init__(self, dtype, shape, dflt)

    def col_init(self: Col, shape: Any = (), dflt: Any = None, pos: int | None = None, attrs: dict | None = None) -> None:
        Col.__init__(self, dtype, shape, dflt, pos, attrs)

    return (type(f"{name}Atom", (Atom,), {"__init__": atom_init}),
            type(f"{name}Col", (Col,), {"__init__": col_init}))


BoolAtom, BoolCol = _make_pair("Bool", "bool")
Int8Atom, Int8Col = _make_pair("Int8", "int8")
Int16Atom, Int16Col = _make_pair("Int16", "int16")
Int32Atom, Int32Col = _make_pair("Int32", "int32")
Int64Atom, Int64Col = _make_pair("Int64", "int64")
UInt8Atom, UInt8Col = _make_pair("UInt8", "uint8")
UInt16Atom, UInt16Col = _make_pair("UInt16", "uint16")
UInt32Atom, UInt32Col = _make_pair("UInt32", "uint32")
UInt64Atom, UInt64Col = _make_pair("UInt64", "uint64")
Float16Atom, Float16Col = _make_pair("Float16", "float16")
Float32Atom, Float32Col = _make_pair("Float32", "float32")
Float64Atom, Float64Col = _make_pair("Float64", "float64")
Complex64Atom, Complex64Col = _make_pair("Complex64", "complex64")
Complex128Atom, Complex128Col = _make_pair("Complex128", "complex128")
Time32Atom, Time32Col = _make_pair("Time32", "int32")      # PyTables: seconds since the epoch, int32
Time64Atom, Time64Col = _make_pair("Time64", "float64")    # and float64
IntAtom, IntCol = Int32Atom, Int32Col
UIntAtom, UIntCol = UInt32Atom, UInt32Col
FloatAtom, FloatCol = Float64Atom, Float64Col
TimeAtom, TimeCol = Time32Atom, Time32Col


class ComplexCol(Col):
    def __init__(self, itemsize: int = 16, shape: Any = (), dflt: Any = None, pos: int | None = None):
        super().__init__(f"complex{itemsize * 8}", shape, dflt, pos)


class StringAtom(Atom):
    def __init__(self, itemsize: int, shape: Any = (), dflt: Any = b""):
        if int(itemsize) <= 0:
            raise InvalidArgumentError(f"StringAtom itemsize must be positive, got {itemsize}")
        super().__init__(f"S{int(itemsize)}", shape, dflt)


class StringCol(Col):
    def __init__(self, itemsize: int, shape: Any = (), dflt: Any = b"", pos: int | None = None, attrs: dict | None = None):
        if int(itemsize) <= 0:
            raise InvalidArgumentError(f"StringCol itemsize must be positive, got {itemsize}")
        super().__init__(f"S{int(itemsize)}", shape, dflt, pos, attrs)


class Enum:
    """PyTables' Enum: ``Enum(['red', 'green'])`` or ``Enum({'red': 1, 'green': 2})``."""

    def __init__(self, enum: Any):
        if isinstance(enum, dict):
            self._names = {str(k): int(v) for k, v in enum.items()}
        else:
            self._names = {str(n): i for i, n in enumerate(enum)}
        self._values = {v: k for k, v in self._names.items()}

    def __getattr__(self, name: str) -> int:
        try:
            return self._names[name]
        except KeyError:
            raise AttributeError(f"enum has no name {name!r}; names: {sorted(self._names)}") from None

    def __getitem__(self, name: str) -> int:
        return self._names[name]

    def __call__(self, value: int) -> str:
        try:
            return self._values[int(value)]
        except KeyError:
            raise InvalidArgumentError(f"value {value} is not in the enum {self._names}") from None

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self._names.items())

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"Enum({self._names})"


class EnumCol(Col):
    """An enumerated column stored as its integer ``base`` (uint32 by default)."""

    def __init__(self, enum: Any, dflt: str, base: Any = "uint32", shape: Any = (), pos: int | None = None):
        self.enum = enum if isinstance(enum, Enum) else Enum(enum)
        base_dt = base.dtype if isinstance(base, Atom) else np.dtype(base)
        super().__init__(base_dt, shape, self.enum[dflt], pos)


class _DescriptionMeta(type):
    def __new__(mcs, name: str, bases: tuple, ns: dict) -> type:
        cols: dict = {}
        for b in reversed(bases):
            cols.update(getattr(b, "columns", {}))
        for k, v in ns.items():
            if isinstance(v, Col) or isinstance(type(v), _DescriptionMeta) or isinstance(v, _DescriptionMeta):
                cols[k] = v
        ns = {k: v for k, v in ns.items() if k not in cols}
        ns["columns"] = cols
        return super().__new__(mcs, name, bases, ns)


class IsDescriptionType(metaclass=_DescriptionMeta):
    columns: dict = {}


class IsDescription(IsDescriptionType):
    """Subclass and give class attributes that are ``*Col`` instances (or nested descriptions)."""


def _ordered(cols: dict) -> list[tuple[str, Any]]:
    """PyTables' column order: columns with ``pos`` by pos, then the others by name."""
    with_pos = sorted(((c.pos, k) for k, c in cols.items() if isinstance(c, Col) and c.pos is not None))
    rest = sorted(k for k, c in cols.items() if not (isinstance(c, Col) and c.pos is not None))
    return [(k, cols[k]) for _, k in with_pos] + [(k, cols[k]) for k in rest]


def _description_dtype(description: Any, what: str) -> tuple[np.dtype, dict]:
    """numpy structured dtype and {name: Col} of a PyTables description."""
    if isinstance(description, Description):
        return description._v_dtype, dict(description._v_colobjects)
    if isinstance(description, type) and issubclass(description, IsDescriptionType):
        cols = description.columns
    elif isinstance(description, IsDescriptionType):
        cols = type(description).columns
    elif isinstance(description, dict):
        cols = description
    elif isinstance(description, np.ndarray) and description.dtype.names:
        return _description_dtype(description.dtype, what)
    else:
        try:
            dt = np.dtype(description)
        except TypeError:
            raise SchemaError(f"{what}: the description must be an IsDescription subclass, a dict of Col objects "
                              f"or a numpy structured dtype, got {type(description).__name__}") from None
        if not _names(dt):
            raise SchemaError(f"{what}: the dtype {dt} has no named fields; give a structured dtype")
        return dt, {n: Col.from_atom(Atom.from_dtype(_field(dt, n)), i) for i, n in enumerate(_names(dt))}
    fields, colobjs = [], {}
    for k, c in _ordered(cols):
        if not isinstance(c, Col):
            raise OctavoNotImplementedError(f"{what}: column {k!r} is a nested description; octavo tables have "
                                            "flat columns: flatten it into columns named like '{k}_x'")
        fields.append((k, c.dtype, c.shape) if c.shape else (k, c.dtype))
        colobjs[k] = c
    if not fields:
        raise SchemaError(f"{what}: the description has no columns")
    return np.dtype(fields), colobjs


_STRING_META = b"pytables.itemsize"


def _arrow_type(dt: np.dtype) -> pa.DataType:
    base = dt.subdtype[0] if dt.subdtype else dt
    t = pa.string() if base.kind == "S" else pa.from_numpy_dtype(base)
    for n in reversed(dt.shape):
        t = pa.list_(t, n)
    return t


def _schema_of(dt: np.dtype) -> pa.Schema:
    fields = []
    for n in _names(dt):
        sub = _field(dt, n)
        base = sub.subdtype[0] if sub.subdtype else sub
        meta = {_STRING_META: str(base.itemsize).encode()} if base.kind == "S" else None
        fields.append(pa.field(n, _arrow_type(sub), nullable=False, metadata=meta))
    return pa.schema(fields)


def _numpy_dtype(schema: pa.Schema) -> np.dtype:
    """The structured dtype PyTables would give a table with this Arrow schema."""
    fields = []
    for f in schema:
        t, shape = f.type, []
        while pa.types.is_fixed_size_list(t):
            shape.append(t.list_size)
            t = t.value_type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
            size = int((f.metadata or {}).get(_STRING_META, b"0")) or 0
            base = np.dtype(f"S{size}") if size else np.dtype("O")
        elif pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_dictionary(t) or pa.types.is_decimal(t):
            base = np.dtype("O")
        else:
            try:
                base = np.dtype(t.to_pandas_dtype())
            except (NotImplementedError, TypeError):
                base = np.dtype("O")
        fields.append((f.name, base, tuple(shape)) if shape else (f.name, base))
    return np.dtype(fields)


def _column_to_numpy(col: pa.ChunkedArray | pa.Array, dt: np.dtype) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    base, shape = (dt.subdtype[0], dt.subdtype[1]) if dt.subdtype else (dt, ())
    for _ in shape:
        col = col.flatten()
    if base.kind == "S":
        values = col.cast(pa.binary()).to_numpy(zero_copy_only=False)
        values = values.astype(base if base.itemsize else "S")
    elif base.kind == "O":
        values = np.array(col.to_pylist() if not shape else col.to_pylist(), dtype=object)
    else:
        values = col.to_numpy(zero_copy_only=False).astype(base, copy=False)
    return values.reshape((n, *shape)) if shape else values


def _to_records(table: pa.Table, dt: np.dtype) -> np.ndarray:
    out = np.empty(table.num_rows, dtype=dt)
    for name in _names(dt):
        out[name] = _column_to_numpy(table.column(name), _field(dt, name))
    return out


def _from_records(rec: np.ndarray, schema: pa.Schema, what: str) -> pa.Table:
    """A numpy structured array as an Arrow table of ``schema`` (fields matched by name)."""
    arrays = []
    for f in schema:
        if f.name not in _names(rec.dtype):
            raise SchemaError(f"{what}: the rows have no field {f.name!r}; fields: {list(_names(rec.dtype))}")
        v = np.asarray(rec[f.name])
        t, sizes = f.type, []
        while pa.types.is_fixed_size_list(t):
            sizes.append(t.list_size)
            t = t.value_type
        if tuple(v.shape[1:]) != tuple(sizes):
            raise SchemaError(f"{what}: column {f.name!r} needs elements of shape {tuple(sizes)}, got {v.shape[1:]}")
        flat = v.reshape(-1)
        try:
            if flat.dtype.kind == "S":
                arr = pa.array(flat, type=pa.binary()).cast(t)
            elif flat.dtype.kind == "U":
                arr = pa.array(flat.tolist(), type=t)
            else:
                arr = pa.array(flat).cast(t)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
            raise SchemaError(f"{what}: column {f.name!r} cannot hold these values as {t}: {e}") from None
        for size in reversed(sizes):
            arr = pa.FixedSizeListArray.from_arrays(arr, size)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _as_records(rows: Any, dt: np.dtype, what: str) -> np.ndarray:
    """append()'s argument (structured array, list of tuples, one tuple) as records of ``dt``."""
    if isinstance(rows, np.ndarray) and _names(rows.dtype):
        if rows.dtype.names == _names(dt):
            return np.atleast_1d(rows).astype(dt, copy=False) if rows.dtype != dt else np.atleast_1d(rows)
        out = np.zeros(len(np.atleast_1d(rows)), dtype=dt)
        for n in _names(dt):
            if n not in _names(rows.dtype):
                raise SchemaError(f"{what}: the rows have no field {n!r}")
            out[n] = rows[n]
        return out
    if isinstance(rows, tuple):
        rows = [rows]
    try:
        return np.array([tuple(r) for r in rows], dtype=dt)
    except (TypeError, ValueError) as e:
        raise SchemaError(f"{what}: rows must match the columns {list(_names(dt))}: {e}") from None


# --- filters -----------------------------------------------------------------------------------

_COMPLIBS = ("zlib", "blosc", "blosc:blosclz", "blosc:lz4", "blosc:lz4hc", "blosc:zlib", "blosc:zstd",
             "blosc2", "blosc2:blosclz", "blosc2:lz4", "blosc2:lz4hc", "blosc2:zlib", "blosc2:zstd", "zstd", "lz4",
             "gzip", "none")


class Filters:
    """PyTables' compression settings. complib: zlib (default), blosc[:codec], blosc2[:codec]
    (stored as blosc), zstd, lz4. lzo and bzip2 are not available: octavo says so."""

    def __init__(self, complevel: int = 0, complib: str = "zlib", shuffle: bool = True, bitshuffle: bool = False,
                 fletcher32: bool = False, least_significant_digit: int | None = None):
        if not 0 <= int(complevel) <= 9:
            raise InvalidArgumentError(f"Filters: complevel must be 0..9, got {complevel}")
        if complib not in _COMPLIBS:
            raise InvalidArgumentError(f"Filters: complib {complib!r} is not available in octavo; use one of "
                                       f"{', '.join(_COMPLIBS)}")
        self.complevel = int(complevel)
        self.complib = complib
        self.shuffle = bool(shuffle) and self.complevel > 0 and not bitshuffle
        self.bitshuffle = bool(bitshuffle) and self.complevel > 0
        self.fletcher32 = bool(fletcher32)  # every octavo chunk and page is checksummed anyway
        self.least_significant_digit = least_significant_digit

    def _array_args(self) -> dict:
        if self.complevel == 0 or self.complib == "none":
            return {"compressor": "none"}
        lib = self.complib.replace("blosc2", "blosc")
        return {"compressor": lib, "level": self.complevel,
                "shuffle": "bitshuffle" if self.bitshuffle else self.shuffle}

    def _table_options(self) -> dict:
        if self.complevel == 0 or self.complib == "none":
            return {"compression": "none"}
        lib = self.complib.split(":")[-1]
        codec = {"zlib": "gzip", "gzip": "gzip", "lz4": "lz4", "lz4hc": "lz4", "zstd": "zstd"}.get(lib, "zstd")
        return {"compression": codec, "compression_level": self.complevel if codec != "lz4" else None}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filters) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        return (f"Filters(complevel={self.complevel}, complib={self.complib!r}, shuffle={self.shuffle}, "
                f"bitshuffle={self.bitshuffle}, fletcher32={self.fletcher32}, "
                f"least_significant_digit={self.least_significant_digit})")


def _filters_of_array(info: dict) -> Filters:
    comp = info.get("compressor", "none")
    if comp in ("none", ""):
        return Filters()
    lib = comp if comp in _COMPLIBS else "zstd"
    level = min(9, max(1, int(info.get("compression_level") or 1)))  # (zstd levels above 9 show as 9)
    return Filters(complevel=level, complib=lib, shuffle=bool(info.get("shuffle")),
                   bitshuffle=bool(info.get("bitshuffle")))


# --- nodes -------------------------------------------------------------------------------------

class _Attrs(AttributeSet):
    """``node._v_attrs`` with PyTables' listing names."""

    @property
    def _v_attrnames(self) -> list[str]:
        return sorted(self._raw())

    @property
    def _v_attrnamessys(self) -> list[str]:
        return [k for k in self._v_attrnames if k in _SYSTEM_ATTRS]

    @property
    def _v_attrnamesuser(self) -> list[str]:
        return [k for k in self._v_attrnames if k not in _SYSTEM_ATTRS]

    def _f_list(self, attrset: str = "user") -> list[str]:
        return self._v_attrnamesuser if attrset == "user" else self._v_attrnames if attrset == "all" else \
            self._v_attrnamessys

    def _f_rename(self, oldattrname: str, newattrname: str) -> None:
        value = self[oldattrname]
        self[newattrname] = value
        del self[oldattrname]


_SYSTEM_ATTRS = frozenset({"CLASS", "TITLE", "VERSION", "EXTDIM", "FILTERS", "NODE_TYPE", "NODE_TYPE_VERSION"})


class Node(_ONode):
    """What every PyTables-flavoured node adds to octavo's: ``_v_*`` and ``_f_*`` names."""

    _path: str
    _bundle: Any

    @property
    def attrs(self) -> _Attrs:
        return _Attrs(self._bundle, self._path)

    _v_attrs = attrs

    @property
    def _v_file(self) -> File:
        return self._bundle

    @property
    def _v_title(self) -> str:
        return self.attrs.get("TITLE", "") or ""

    @_v_title.setter
    def _v_title(self, value: str) -> None:
        self.attrs["TITLE"] = value

    @property
    def _v_parent(self) -> Any:
        return self._bundle.get_node(self._path.rsplit("/", 1)[0] or "/")

    @property
    def _v_depth(self) -> int:
        return 0 if self._path == "/" else self._path.count("/")

    @property
    def _v_isopen(self) -> bool:
        return self._bundle.isopen

    def _f_remove(self, recursive: bool = False, force: bool = False) -> None:
        self._bundle.remove_node(self._path, recursive=recursive or force)

    def _f_rename(self, newname: str, overwrite: bool = False) -> None:
        self._bundle.rename_node(self._path, newname, overwrite=overwrite)
        self._path = _join(self._path.rsplit("/", 1)[0] or "/", newname)

    def _f_move(self, newparent: Any = None, newname: str | None = None, overwrite: bool = False,
                createparents: bool = False) -> None:
        parent = _abs(newparent) if newparent is not None else (self._path.rsplit("/", 1)[0] or "/")
        name = newname or self._path.rsplit("/", 1)[1]
        self._bundle.move_node(self._path, parent, name, overwrite=overwrite, createparents=createparents)
        self._path = _join(parent, name)

    def _f_copy(self, newparent: Any = None, newname: str | None = None, overwrite: bool = False,
                recursive: bool = False, createparents: bool = False, **kwargs: Any) -> Any:
        return self._bundle.copy_node(self._path, newparent, newname, overwrite=overwrite, recursive=recursive,
                                      createparents=createparents)

    def _f_getattr(self, name: str) -> Any:
        return getattr(self.attrs, name)

    def _f_setattr(self, name: str, value: Any) -> None:
        self.attrs[name] = value

    def _f_delattr(self, name: str) -> None:
        del self.attrs[name]

    def _f_isvisible(self) -> bool:
        return True

    def _f_close(self) -> None:
        pass

    def _describe(self) -> str:
        return type(self).__name__

    def __str__(self) -> str:
        return f"{self._path} ({self._describe()}) {self._v_title!r}"


class Leaf(Node):
    """PyTables' Leaf: tables, arrays and file nodes."""

    def remove(self) -> None:
        self._f_remove()

    def rename(self, newname: str) -> None:
        self._f_rename(newname)

    def move(self, newparent: Any = None, newname: str | None = None, overwrite: bool = False,
             createparents: bool = False) -> None:
        self._f_move(newparent, newname, overwrite, createparents)

    def copy(self, newparent: Any = None, newname: str | None = None, overwrite: bool = False,
             createparents: bool = False, **kwargs: Any) -> Any:
        return self._f_copy(newparent, newname, overwrite, createparents=createparents)

    def get_attr(self, name: str) -> Any:
        return self._f_getattr(name)

    def set_attr(self, name: str, value: Any) -> None:
        self._f_setattr(name, value)

    def del_attr(self, name: str) -> None:
        self._f_delattr(name)

    @property
    def title(self) -> str:
        return self._v_title

    @title.setter
    def title(self, value: str) -> None:
        self._v_title = value

    @property
    def name(self) -> str:
        return self._path.rsplit("/", 1)[-1]

    def flush(self) -> None:
        pass

    def close(self, flush: bool = True) -> None:
        self.flush()

    nrows: Any
    shape: Any

    def __len__(self) -> int:
        return int(self.nrows)

    def _describe(self) -> str:
        return f"{type(self).__name__}{self.shape!r}"


class Group(Node, _OGroup):
    """A group; children by natural naming (``f.root.detector.readout``) or ``group['name']``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._bundle.get_node(self._path, name)
        except NoSuchNodeError:
            raise NoSuchNodeError(f"group ``{self._path}`` does not have a child named ``{name}``") from None

    def _f_walknodes(self, classname: str | None = None) -> Iterator[Any]:
        """Every node below this group (not the group itself), like PyTables."""
        for n in self._bundle.walk_nodes(self._path, classname):
            if n._path != self._path:
                yield n

    def _f_walk_groups(self) -> Iterator[Any]:
        return self._bundle.walk_groups(self._path)

    def _f_iter_nodes(self, classname: str | None = None) -> Iterator[Any]:
        return (n for n in self if classname is None or isinstance(n, _classname(classname)))

    def _f_list_nodes(self, classname: str | None = None) -> Any:
        return list(self._f_iter_nodes(classname))

    def _f_get_child(self, childname: str) -> Any:
        return self[childname]

    @property
    def _v_children(self) -> Any:
        return {n._v_name: n for n in self}

    @property
    def _v_groups(self) -> Any:
        return {n._v_name: n for n in self if isinstance(n, Group)}

    @property
    def _v_leaves(self) -> Any:
        return {n._v_name: n for n in self if isinstance(n, Leaf)}

    @property
    def _v_nchildren(self) -> int:
        return len(self)

    @property
    def _v_filters(self) -> Filters:
        f = self.attrs.get("FILTERS")
        return Filters(**f) if isinstance(f, dict) else self._bundle.filters

    def _describe(self) -> str:
        return "RootGroup" if self._path == "/" else "Group"

    def __repr__(self) -> str:
        children = ", ".join(f"{n._v_name!r}: {type(n).__name__}" for n in self)
        return f"{self}\n  children := [{children}]"


class Description:
    """``table.description``: the columns' Col objects by attribute, names and dtype."""

    def __init__(self, dtype: np.dtype, cols: dict):
        self._v_dtype = dtype
        self._v_names = list(_names(dtype))
        self._v_colobjects = cols
        self._v_types = {n: c.type for n, c in cols.items()}
        self._v_dflts = {n: c.dflt for n, c in cols.items()}
        self._v_nested_names = self._v_names
        self._v_pathnames = self._v_names
        self._v_is_nested = False

    def __getattr__(self, name: str) -> Col:
        try:
            return self.__dict__["_v_colobjects"][name]
        except KeyError:
            raise AttributeError(f"description has no column {name!r}") from None

    def _f_walk(self, type: str = "All") -> Iterator[Col]:  # noqa: A002 (PyTables' name)
        return iter(self._v_colobjects.values())

    def __repr__(self) -> str:
        body = ",\n  ".join(f'"{n}": {c!r}' for n, c in self._v_colobjects.items())
        return "{\n  " + body + "}"


class Row:
    """PyTables' Row. Written through ``table.row`` (set fields, ``append()``), and handed out by
    iteration and ``where`` as a view of one read row (``row['x']``, ``row[:]``, ``row.nrow``)."""

    def __init__(self, table: Table, records: np.ndarray | None = None, index: int = 0, nrow: int = -1):
        self._table = table
        self._records = records
        self._index = index
        self._nrow = nrow

    @property
    def nrow(self) -> int:
        return self._nrow

    @property
    def table(self) -> Any:
        return self._table

    def _current(self) -> Any:
        if self._records is None:  # the writing row: a one-row buffer of defaults
            self._records = self._table._defaults()
            self._index = 0
        return self._records[self._index]

    def __getitem__(self, key: Any) -> Any:
        rec = self._current()
        if isinstance(key, (int, np.integer)):
            key = _names(rec.dtype)[int(key)]
        elif isinstance(key, slice):
            return tuple(rec[n] for n in _names(rec.dtype)[key])
        try:
            return rec[key]
        except (KeyError, ValueError):
            raise KeyError(f"table {self._table._path!r} has no column {key!r}; columns: "
                           f"{list(_names(rec.dtype))}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        if self._nrow >= 0:
            raise OctavoNotImplementedError(
                f"table {self._table._path!r}: changing rows while iterating (row['x'] = v; row.update()) is "
                "not available; use table.modify_column() / modify_rows() or write a new table")
        rec = self._current()
        if key not in _names(rec.dtype):
            raise KeyError(f"table {self._table._path!r} has no column {key!r}; columns: {list(_names(rec.dtype))}")
        try:
            self._current()[key] = value
        except (TypeError, ValueError) as e:
            raise SchemaError(f"table {self._table._path!r}: column {key!r} ({rec.dtype[key]}) cannot hold "
                              f"{value!r}: {e}") from None

    def append(self) -> None:
        """Queue the current values as a new row (written by ``table.flush()`` or at close)."""
        self._table._pending.append(np.array([self._current()], dtype=self._table.dtype))
        self._table._bundle._unflushed.add(self._table)
        self._records = None
        if len(self._table._pending) >= self._table._buffer_rows:
            self._table.flush()

    def fetch_all_fields(self) -> np.void:
        return self._current().copy()

    def update(self) -> None:
        self.__setitem__("", None)

    def __contains__(self, item: Any) -> bool:
        return item in self._current().tolist()

    def __str__(self) -> str:
        return str(self._current())

    def __repr__(self) -> str:
        return f"{self._table._path}.row (Row), pointing to row #{self._nrow}"


class _Column:
    """``table.cols.name``: reads (``[:]``, ``[i]``, ``len``) and index management."""

    def __init__(self, table: Table, name: str):
        self.table = table
        self.name = self._v_name = self.pathname = name
        self.dtype = table.coldtypes[name]
        self.type = _type_name(self.dtype.subdtype[0] if self.dtype.subdtype else self.dtype)

    def __len__(self) -> int:
        return self.table.nrows

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.table.nrows if key < 0 else 0)
            if not 0 <= i < self.table.nrows:
                raise IndexError(f"row {key} is out of range for table {self.table._path!r} "
                                 f"({self.table.nrows} rows)")
            return self.table.read(i, i + 1, field=self.name)[0]
        if isinstance(key, slice):
            return self.table.read(*key.indices(self.table.nrows), field=self.name)
        return self.table.read_coordinates(key, field=self.name)

    def __setitem__(self, key: Any, value: Any) -> None:
        """``t.cols.x[a:b] = values`` (PyTables): modify_column."""
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.table.nrows if key < 0 else 0)
            self.table.modify_column(i, i + 1, 1, [value], self.name)
        elif isinstance(key, slice):
            st, sp, stp = slice(key.start, key.stop, key.step).indices(self.table.nrows)
            self.table.modify_column(st, sp, stp, value, self.name)
        else:
            raise TypeError("assign column values with an integer or a slice")

    def read(self) -> np.ndarray:
        return self.table.read(field=self.name)

    def __iter__(self) -> Iterator[Any]:
        for chunk in self.table._chunks(0, self.table.nrows, 1, field=self.name):
            yield from chunk[1]

    def create_index(self, *args: Any, **kwargs: Any) -> None:
        _OTable.create_index(self.table, self.name)

    create_csindex = create_index

    def remove_index(self) -> None:
        _OTable.remove_index(self.table, self.name)

    def reindex(self) -> None:
        self.create_index()

    @property
    def is_indexed(self) -> bool:
        return self.name in self.table.indexes

    def __repr__(self) -> str:
        return f"{self.table._path}.cols.{self.name} (Column({self.table.nrows},), {self.dtype})"


class _Cols:
    _v_table: Table

    def __init__(self, table: Table):
        object.__setattr__(self, "_v_table", table)

    @property
    def _v_colnames(self) -> list[str]:
        return self._v_table.colnames

    def _f_col(self, name: str) -> _Column:
        if name not in self._v_table.colnames:
            raise KeyError(f"table {self._v_table._path!r} has no column {name!r}; "
                           f"columns: {self._v_table.colnames}")
        return _Column(self._v_table, name)

    def __getattr__(self, name: str) -> _Column:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._f_col(name)
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._f_col(key)
        return self._v_table[key]

    def __len__(self) -> int:
        return self._v_table.nrows

    def __dir__(self) -> list[str]:
        return [*self._v_table.colnames, "_v_colnames", "_f_col"]

    def __repr__(self) -> str:
        t = self._v_table
        lines = [f"{t._path}.cols (Cols), {len(t.colnames)} columns"]
        lines += [f"  {n} (Column({t.nrows},), {t.coldtypes[n]})" for n in t.colnames]
        return "\n".join(lines)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONDITION_WORDS = frozenset({"and", "or", "not", "in", "True", "False", "None", "is", "like", "ilike", "contains",
                              "startswith", "endswith", "match", "between", "null"})


def _frame_condvars(condition: str, colnames: list[str], condvars: dict | None, depth: int) -> dict | None:
    """PyTables looks names of a condition that are not columns up in the caller's variables."""
    if condvars is not None:
        return condvars
    frame = sys._getframe(depth + 1)
    try:
        found = {}
        for name in set(_IDENT.findall(re.sub(r"(['\"]).*?\1", "", condition))):
            if name in colnames or name in _CONDITION_WORDS:
                continue
            for scope in (frame.f_locals, frame.f_globals):
                if name in scope:
                    value = scope[name]
                    if isinstance(value, (bool, int, float, str, bytes, np.generic)):
                        found[name] = value
                    break
        return found or None
    finally:
        del frame


class Table(Leaf, _OTable):
    """A table with PyTables' meanings: reads return numpy structured arrays, ``where`` and
    iteration yield rows, ``row``/``append`` buffer rows until ``flush()``."""

    def __init__(self, bundle: Any, path: str, native: Any = None):
        _OTable.__init__(self, bundle, path, native)
        self._pending: list[np.ndarray] = []
        self._buffer_rows = 10_000
        self._dtype: np.dtype | None = None
        self._wrow: Row | None = None

    # --- metadata ---------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            self._dtype = _numpy_dtype(self.schema)
        return self._dtype

    @property
    def description(self) -> Description:
        dt = self.dtype
        cols = {}
        for i, n in enumerate(_names(dt)):
            cols[n] = Col.from_atom(Atom.from_dtype(_field(dt, n)), i)
        return Description(dt, cols)

    @property
    def coldtypes(self) -> dict[str, np.dtype]:
        dt = self.dtype
        return {n: _field(dt, n) for n in _names(dt)}

    @property
    def coltypes(self) -> dict[str, str]:
        return {n: _type_name(d.subdtype[0] if d.subdtype else d) for n, d in self.coldtypes.items()}

    @property
    def colpathnames(self) -> list[str]:
        return self.colnames

    @property
    def shape(self) -> tuple[int]:
        return (self.nrows,)

    @property
    def nrows(self) -> int:
        return self.num_rows + sum(len(p) for p in self._pending)

    @property
    def rowsize(self) -> int:
        return self.dtype.itemsize

    @property
    def size_in_memory(self) -> int:
        return self.nrows * self.dtype.itemsize

    @property
    def size_on_disk(self) -> int:
        return int(self.info()["size_bytes"])

    @property
    def filters(self) -> Filters:
        f = self.attrs.get("FILTERS")
        return Filters(**f) if isinstance(f, dict) else Filters()

    @property
    def cols(self) -> _Cols:  # type: ignore[override]
        return _Cols(self)

    @property
    def indexed(self) -> bool:
        return bool(self.indexes)

    @property
    def colindexed(self) -> dict[str, bool]:
        idx = set(self.indexes)
        return {n: n in idx for n in self.colnames}

    # --- writes -------------------------------------------------------------------------
    def _defaults(self) -> np.ndarray:
        """One row of the columns' defaults (the description's ``dflt``, else 0 / b'')."""
        rec = np.zeros(1, dtype=self.dtype)
        for n, v in self._bundle._dflts.get(self._path, {}).items():
            rec[n] = v
        return rec

    @property
    def row(self) -> Row:  # type: ignore[override]
        if self._wrow is None:
            self._wrow = Row(self)
        return self._wrow

    def append(self, rows: Any) -> None:  # type: ignore[override]
        """Append a structured array, a list of tuples or one tuple (PyTables); anything octavo's
        Table.append takes (DataFrame, Arrow, dict of arrays) works too."""
        self.flush()
        if isinstance(rows, (list, tuple, np.ndarray)):
            rec = _as_records(rows, self.dtype, f"table {self._path!r}")
            if len(rec):
                _OTable.append(self, _from_records(rec, self.schema, f"table {self._path!r}"))
            return
        _OTable.append(self, rows)

    def flush(self) -> None:
        """Write the rows appended through ``row`` (one commit)."""
        if self._pending:
            rec = np.concatenate(self._pending)
            self._pending = []
            self._bundle._unflushed.discard(self)
            _OTable.append(self, _from_records(rec, self.schema, f"table {self._path!r}"))

    def _edit_range(self, start: Any, stop: Any, step: Any, n: int, what: str) -> tuple[int, int]:
        """PyTables' range rules for modify_*: without stop, as many rows as values; the range
        must hold exactly ``n`` rows and stay within the table. Returns (start, step)."""
        self.flush()
        step = 1 if step is None else int(step)
        start = 0 if start is None else int(start)
        if start < 0:
            raise InvalidArgumentError(f"table {self._path!r}: {what}: start must be >= 0, got {start}")
        if step < 1:
            raise InvalidArgumentError(f"table {self._path!r}: {what}: step must be >= 1, got {step}")
        stop = start + (n - 1) * step + 1 if stop is None else int(stop)
        st, sp, _ = slice(start, stop, step).indices(max(self.num_rows, stop))
        if sp > self.num_rows:
            raise OctavoIndexError(f"table {self._path!r}: {what}: rows up to {sp} go past the table's end "
                                   f"({self.num_rows} rows)")
        if len(range(st, sp, step)) != n:
            raise InvalidArgumentError(f"table {self._path!r}: {what}: {n} values for the "
                                       f"{len(range(st, sp, step))} rows of range({st}, {sp}, {step})")
        return st, step

    def modify_rows(self, start: int | None = None, stop: int | None = None, step: int | None = None,
                    rows: Any = None) -> int:
        """Replace rows start:stop:step with ``rows`` (structured array or list of tuples).
        Copy-on-write of the parts holding them, one commit; returns how many rows changed."""
        if rows is None:
            return 0
        rec = _as_records(rows, self.dtype, f"table {self._path!r}")
        if len(rec) == 0:
            return 0
        st, stp = self._edit_range(start, stop, step, len(rec), "modify_rows")
        values = _from_records(rec, self.schema, f"table {self._path!r}")
        self._native.modify_rows(st, stp, values.__arrow_c_stream__())
        return len(rec)

    def modify_column(self, start: int | None = None, stop: int | None = None, step: int | None = None,
                      column: Any = None, colname: str | None = None) -> int:
        """Replace column ``colname`` at rows start:stop:step with ``column``; one commit."""
        if colname is None or colname not in self.colnames:
            raise KeyError(f"table {self._path!r} has no column {colname!r}; columns: {self.colnames}")
        if column is None:
            return 0
        sub = np.dtype([(colname, _field(self.dtype, colname))])
        values = np.asarray(column.read() if isinstance(column, _Column) else column)
        rec = np.empty(len(values) if values.ndim else 1, dtype=sub)
        try:
            rec[colname] = values
        except (TypeError, ValueError) as e:
            raise SchemaError(f"table {self._path!r}: column {colname!r} ({_field(self.dtype, colname)}) cannot "
                              f"hold these values: {e}") from None
        if len(rec) == 0:
            return 0
        st, stp = self._edit_range(start, stop, step, len(rec), "modify_column")
        schema = pa.schema([self.schema.field(colname)])
        self._native.modify_rows(st, stp, _from_records(rec, schema, f"table {self._path!r}").__arrow_c_stream__())
        return len(rec)

    def modify_columns(self, start: int | None = None, stop: int | None = None, step: int | None = None,
                       columns: Any = None, names: list[str] | None = None) -> int:
        if columns is None:
            return 0
        names = list(names or self.colnames)
        sub = np.dtype([(n, _field(self.dtype, n)) for n in names])
        rec = np.rec.fromarrays([np.asarray(c) for c in columns], dtype=sub) if not (
            isinstance(columns, np.ndarray) and columns.dtype.names) else columns.astype(sub)
        st, stp = self._edit_range(start, stop, step, len(rec), "modify_columns")
        schema = pa.schema([self.schema.field(n) for n in names])
        self._native.modify_rows(st, stp, _from_records(rec, schema, f"table {self._path!r}").__arrow_c_stream__())
        return len(rec)

    def remove_rows(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> int:
        """Remove rows start:stop:step (only row ``start`` when stop is not given, as in
        PyTables); copy-on-write of the parts holding them, one commit. Returns how many."""
        st, sp, stp = self._range(start, stop, step)
        if sp <= st:
            return 0
        return int(self._native.remove_rows(st, sp, stp))

    def remove_row(self, n: int) -> int:
        return self.remove_rows(n, n + 1)

    # --- reads ----------------------------------------------------------------------------
    def _range(self, start: Any, stop: Any, step: Any) -> tuple[int, int, int]:
        """PyTables' read ranges: Python slice rules, except that ``start`` alone means that
        one row (``start=-1``: the last)."""
        self.flush()
        if step is not None and int(step) <= 0:
            raise InvalidArgumentError(f"table {self._path!r}: step must be positive, got {step}")
        n = self.num_rows
        if start is not None and stop is None and step is None:
            start = int(start)
            if 0 < n <= start or start < -n:
                raise OctavoIndexError(f"table {self._path!r}: row {start} is out of range ({n} rows)")
            stop = n if start == -1 else (start + 1 if start >= 0 else n + start + 1)
        return slice(start, stop, step).indices(n)

    def _chunks(self, start: int, stop: int, step: int, field: str | None = None,
                rows: int = _ROWS_PER_READ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row numbers, records) for rows start:stop:step, read a chunk at a time."""
        if stop <= start:
            return
        cols = [field] if field else None
        dt = self.dtype if field is None else _field(self.dtype, field)
        span = max(rows, step) - max(rows, step) % step  # whole steps per read, so the stride stays aligned
        pos = start
        for batch in self.iter_batches(span, cols, "arrow", start=start, stop=stop):
            picked = batch.take(pa.array(np.arange(0, batch.num_rows, step))) if step > 1 else batch
            nrows = np.arange(pos, pos + batch.num_rows, step, dtype=np.int64)
            pos += batch.num_rows
            data = _to_records(picked, self.dtype) if field is None else _column_to_numpy(picked.column(0), dt)
            yield nrows, data

    def read(self, start: int | None = None, stop: int | None = None, step: int | None = None,  # type: ignore[override]
             field: str | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Rows start:stop:step as a numpy structured array (one column's values with ``field``)."""
        st, sp, stp = self._range(start, stop, step)
        if field is not None and field not in self.colnames:
            raise KeyError(f"table {self._path!r} has no column {field!r}; columns: {self.colnames}")
        dt = self.dtype if field is None else _field(self.dtype, field)
        if sp <= st:
            res = np.empty(0, dtype=dt)
        else:
            arrow = _OTable.read(self, st, sp, columns=[field] if field else None, return_type="arrow")
            if stp > 1:
                arrow = arrow.take(pa.array(np.arange(0, arrow.num_rows, stp)))
            res = _to_records(arrow, self.dtype) if field is None else _column_to_numpy(arrow.column(0), dt)
        if out is not None:
            out[...] = res
            return out
        return res

    def col(self, name: str) -> np.ndarray:
        return self.read(field=name)

    def iterrows(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> Iterator[Row]:
        st, sp, stp = self._range(start, stop, step)
        for nrows, rec in self._chunks(st, sp, stp):
            for i in range(len(rec)):
                yield Row(self, rec, i, int(nrows[i]))

    def __iter__(self) -> Iterator[Row]:
        return self.iterrows()

    def itersequence(self, sequence: Any) -> Iterator[Row]:
        coords = np.asarray(sequence, dtype=np.int64).reshape(-1)
        for i in range(0, len(coords), _ROWS_PER_READ):
            part = coords[i:i + _ROWS_PER_READ]
            rec = self.read_coordinates(part)
            for j in range(len(rec)):
                yield Row(self, rec, j, int(part[j]))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            n = self.nrows
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {key} is out of range for table {self._path!r} ({n} rows)")
            return self.read(i, i + 1)[0]
        if isinstance(key, slice):
            return self.read(*key.indices(self.nrows))
        if isinstance(key, str):
            return self.col(key)
        return self.read_coordinates(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        """``t[i] = row``, ``t[a:b:c] = rows`` (PyTables): modify_rows."""
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.nrows if key < 0 else 0)
            self.modify_rows(i, i + 1, 1, [value])
        elif isinstance(key, slice):
            st, sp, stp = slice(key.start, key.stop, key.step).indices(self.nrows)
            self.modify_rows(st, sp, stp, value)
        else:
            raise TypeError("assign table rows with an integer or a slice")

    # --- conditional reads ------------------------------------------------------------------
    def _where_list(self, condition: str, condvars: dict | None, start: Any, stop: Any, step: Any) -> np.ndarray:
        st, sp, stp = self._range(start, stop, step)
        if sp <= st:
            return np.empty(0, dtype=np.int64)
        rows = _OTable.get_where_list(self, condition, st, sp, condvars)
        return rows[(rows - st) % stp == 0] if stp > 1 else rows

    def where(self, condition: str, condvars: dict | None = None, start: int | None = None,  # type: ignore[override]
              stop: int | None = None, step: int | None = None) -> Iterator[Row]:
        """The rows where ``condition`` holds (PyTables syntax), one ``Row`` at a time; names
        that are not columns come from ``condvars`` or else the caller's variables."""
        condvars = _frame_condvars(condition, self.colnames, condvars, 1)
        rows = self._where_list(condition, condvars, start, stop, step)
        return self._rows_at(rows)

    def _rows_at(self, rows: np.ndarray) -> Iterator[Row]:
        for i in range(0, len(rows), _ROWS_PER_READ):
            part = rows[i:i + _ROWS_PER_READ]
            rec = self.read_coordinates(part)
            for j in range(len(rec)):
                yield Row(self, rec, j, int(part[j]))

    def read_where(self, condition: str, condvars: dict | None = None, field: str | None = None,  # type: ignore[override]
                   start: int | None = None, stop: int | None = None, step: int | None = None) -> np.ndarray:
        condvars = _frame_condvars(condition, self.colnames, condvars, 1)
        return self.read_coordinates(self._where_list(condition, condvars, start, stop, step), field)

    def get_where_list(self, condition: str, condvars: dict | None = None, sort: bool = False,  # type: ignore[override]
                       start: int | None = None, stop: int | None = None, step: int | None = None) -> np.ndarray:
        condvars = _frame_condvars(condition, self.colnames, condvars, 1)
        return self._where_list(condition, condvars, start, stop, step)

    def read_coordinates(self, coords: Any, field: str | None = None) -> np.ndarray:  # type: ignore[override]
        self.flush()
        if field is not None and field not in self.colnames:
            raise KeyError(f"table {self._path!r} has no column {field!r}; columns: {self.colnames}")
        arrow = _OTable.read_coordinates(self, coords, [field] if field else None, "arrow")
        if field is None:
            return _to_records(arrow, self.dtype)
        return _column_to_numpy(arrow.column(0), _field(self.dtype, field))

    def read_sorted(self, sortby: str, field: str | None = None, start: int | None = None,
                    stop: int | None = None, step: int | None = None) -> np.ndarray:
        data = self.read(field=None)
        data = data[np.argsort(data[sortby], kind="stable")][slice(start, stop, step)]
        return data if field is None else data[field]

    def will_query_use_indexing(self, condition: str, condvars: dict | None = None) -> frozenset:
        names = set(_IDENT.findall(condition))
        return frozenset(f"{self._path}.cols.{n}" for n in self.indexes if n in names)

    def __str__(self) -> str:
        return f"{self._path} (Table({self.nrows},)) {self._v_title!r}"

    def __repr__(self) -> str:
        return (f"{self}\n  description := {self.description!r}\n  byteorder := 'little'\n"
                f"  chunkshape := None")


class Array(Leaf, _OArray):
    """An n-d array (PyTables' Array; CArray and EArray are the same octavo node)."""

    def read(self, start: int | None = None, stop: int | None = None, step: int | None = None,
             out: np.ndarray | None = None) -> np.ndarray:
        if self.ndim == 0:
            res = self[()]
        else:
            res = self[slice(start, stop, step)]
        if out is not None:
            out[...] = res
            return out
        return res

    @property
    def nrows(self) -> int:
        return self.shape[0] if self.shape else 1

    @property
    def atom(self) -> Atom:
        return Atom.from_dtype(self.dtype)

    @property
    def chunkshape(self) -> tuple[int, ...]:
        return self.chunks

    @property
    def filters(self) -> Filters:
        return _filters_of_array(self._native.info())

    @property
    def size_in_memory(self) -> int:
        return self.nbytes

    @property
    def size_on_disk(self) -> int:
        return int(self._native.info()["size_bytes"])

    @property
    def maindim(self) -> int:
        return int(self.attrs.get("EXTDIM", 0))

    @property
    def extdim(self) -> int:
        return int(self.attrs.get("EXTDIM", -1))

    def iterrows(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> Iterator[Any]:
        st, sp, stp = slice(start, stop, step).indices(self.nrows)
        span = max(1, _ROWS_PER_READ // max(1, int(np.prod(self.shape[1:], dtype=np.int64))))
        for i in range(st, sp, span * stp):
            yield from self[i:min(sp, i + span * stp):stp]

    def __iter__(self) -> Iterator[Any]:
        return self.iterrows()

    def __str__(self) -> str:
        return f"{self._path} ({type(self).__name__}{self.shape!r}) {self._v_title!r}"

    def __repr__(self) -> str:
        return (f"{self}\n  atom := {self.atom!r}\n  maindim := {self.maindim}\n  flavor := 'numpy'\n"
                f"  byteorder := 'little'\n  chunkshape := {self.chunkshape!r}")


class CArray(Array):
    pass


class EArray(CArray):
    def append(self, sequence: Any) -> None:  # type: ignore[override]
        """Add rows along the extendable axis (the 0 of ``shape`` at creation)."""
        data = np.asarray(sequence, dtype=self.dtype)
        if data.ndim == self.ndim - 1:
            data = np.expand_dims(data, self.extdim)
        _OArray.append(self, data, axis=self.extdim)


class VLArray(Leaf, _OTable):
    """Rows of varying length, stored as a one-column octavo table of lists (or of text / bytes)."""

    def __init__(self, bundle: Any, path: str, native: Any = None):
        _OTable.__init__(self, bundle, path, native)

    @property
    def atom(self) -> Atom:
        kind = self.attrs.get("VLATOM", "")
        if kind == "vlstring":
            return VLStringAtom()
        if kind == "vlunicode":
            return VLUnicodeAtom()
        if kind == "object":
            return ObjectAtom()
        return Atom.from_dtype(np.dtype(self.attrs.get("VLDTYPE", "float64")))

    @property
    def shape(self) -> tuple[int]:
        return (self.nrows,)

    @property
    def nrows(self) -> int:
        return self.num_rows

    def append(self, sequence: Any) -> None:  # type: ignore[override]
        atom = self.atom
        value: Any
        if isinstance(atom, VLStringAtom):
            value = sequence if isinstance(sequence, bytes) else str(sequence).encode()
        elif isinstance(atom, VLUnicodeAtom):
            value = str(sequence)
        elif isinstance(atom, ObjectAtom):
            import pickle
            value = pickle.dumps(sequence)
        else:
            value = np.asarray(sequence, dtype=atom.dtype).reshape(-1).tolist()
        _OTable.append(self, pa.table({"vlarray": pa.array([value], type=self.schema.field("vlarray").type)}))

    def _decode(self, values: list) -> list:
        atom = self.atom
        if isinstance(atom, (VLStringAtom, VLUnicodeAtom)):
            return values
        if isinstance(atom, ObjectAtom):
            import pickle
            return [pickle.loads(v) for v in values]  # noqa: S301 (the user's own objects, as in PyTables)
        return [np.asarray(v, dtype=atom.dtype) for v in values]

    def read(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> list:  # type: ignore[override]
        st, sp, stp = slice(start, stop, step).indices(self.nrows)
        if sp <= st:
            return []
        col = _OTable.read(self, st, sp, columns=["vlarray"], return_type="arrow").column(0).to_pylist()
        return self._decode(col[::stp])

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.nrows if key < 0 else 0)
            if not 0 <= i < self.nrows:
                raise IndexError(f"row {key} is out of range for {self._path!r} ({self.nrows} rows)")
            return self.read(i, i + 1)[0]
        if isinstance(key, slice):
            return self.read(key.start, key.stop, key.step)
        raise TypeError("index a VLArray with an integer or a slice")

    def iterrows(self, start: int | None = None, stop: int | None = None, step: int | None = None) -> Iterator[Any]:
        st, sp, stp = slice(start, stop, step).indices(self.nrows)
        for i in range(st, sp, _ROWS_PER_READ * stp):
            yield from self.read(i, min(sp, i + _ROWS_PER_READ * stp), stp)

    def __iter__(self) -> Iterator[Any]:
        return self.iterrows()

    def __str__(self) -> str:
        return f"{self._path} (VLArray({self.nrows},)) {self._v_title!r}"


class VLStringAtom(Atom):
    def __init__(self) -> None:
        super().__init__("S1")
        self.type = "vlstring"


class VLUnicodeAtom(Atom):
    def __init__(self) -> None:
        super().__init__("U1")
        self.type = "vlunicode"


class ObjectAtom(Atom):
    def __init__(self) -> None:
        super().__init__("O")
        self.type = "object"


class SoftLink(Node, _OSoftLink):
    def __call__(self) -> Any:
        return self._bundle.get_node(self.target)

    def __str__(self) -> str:
        return f"{self._path} (SoftLink) -> {self.target}"


class FileNodeLeaf(Leaf, _OFileNode):
    @property
    def shape(self) -> tuple[int]:
        return (self.size,)

    @property
    def nrows(self) -> int:
        return self.size

    def __str__(self) -> str:
        return f"{self._path} (FileNode) {self._v_title!r}"


_CLASSES: dict[str, type] = {"Node": Node, "Group": Group, "Leaf": Leaf, "Table": Table, "Array": Array,
                             "CArray": CArray, "EArray": EArray, "VLArray": VLArray, "SoftLink": SoftLink,
                             "Link": SoftLink, "FileNode": FileNodeLeaf}


def _classname(name: str) -> type:
    try:
        return _CLASSES[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown PyTables class name {name!r}; one of {sorted(_CLASSES)}") from None


# --- files ---------------------------------------------------------------------------------------

def _h5_hint(path: str) -> None:
    """An existing HDF5 file is not a bundle: say how to convert it instead of failing obscurely."""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            head = f.read(8)
        what = "an HDF5 file" if head == b"\x89HDF\r\n\x1a\n" else "a regular file"
        raise InvalidArgumentError(
            f"{path!r} is {what}, not an octavo bundle (a directory). Convert it once with "
            f"`octavo import {path} BUNDLE` (Python: octavo.fileio.import_h5) and open the bundle, or choose "
            "a new path")


def open_file(filename: str | os.PathLike, mode: str = "r", title: str = "", root_uep: str = "/",
              filters: Filters | None = None, **kwargs: Any) -> File:
    """Open or create an octavo bundle with PyTables' ``open_file`` meanings: 'r' read-only,
    'w' create (an existing bundle starts over, as a new commit), 'a' read/write (created if
    missing), 'r+' read/write of an existing bundle."""
    path = check_fspath(filename, "file name")
    if mode not in ("r", "w", "a", "r+"):
        raise InvalidArgumentError(f"open_file: mode must be 'r', 'w', 'a' or 'r+', got {mode!r}")
    _h5_hint(path)
    if mode in ("r", "r+") and not os.path.isdir(path):
        raise OctavoIOError(f"``{path}`` does not exist (mode {mode!r} opens an existing bundle; "
                            "use 'w' or 'a' to create one)")
    native = _bundle._octavo.Bundle.open(path, "a" if mode == "r+" else Mode(mode).value, -1, "")
    f = File(native, "a" if mode == "r+" else mode, filters)
    if root_uep != "/":
        f._root_uep = _abs(root_uep)
    if mode == "w" and title:
        f.root._v_attrs["TITLE"] = title
    if mode == "w" and filters is not None:
        f.root._v_attrs["FILTERS"] = _filters_dict(filters)
    return f


def _filters_dict(f: Filters) -> dict:
    return {"complevel": f.complevel, "complib": f.complib, "shuffle": f.shuffle, "bitshuffle": f.bitshuffle,
            "fletcher32": f.fletcher32}


def is_pytables_file(filename: str | os.PathLike) -> str | None:
    path = os.fspath(filename)
    return "octavo" if os.path.isdir(path) and os.path.exists(os.path.join(path, "_octavo")) else None


is_hdf5_file = is_pytables_file


class File(_bundle.Bundle):
    """A bundle opened by :func:`open_file`, with PyTables' File methods and signatures."""

    def __init__(self, native: Any, mode: str, filters: Filters | None = None):
        super().__init__(native, mode)
        self._filters = filters
        self._root_uep = "/"
        self._dflts: dict[str, dict] = {}
        self._unflushed: set[Table] = set()  # tables with rows appended through `row`, not yet written

    # --- identity -------------------------------------------------------------------------
    @property
    def filename(self) -> str:
        return self.path

    @property
    def isopen(self) -> int:
        return 0 if self._closed else 1

    @property
    def title(self) -> str:
        return self.root._v_title

    @property
    def filters(self) -> Filters:
        if self._filters is not None:
            return self._filters
        f = self.root._v_attrs.get("FILTERS")
        return Filters(**f) if isinstance(f, dict) else Filters()

    @property
    def root(self) -> Any:
        return self.get_node(self._root_uep)

    def flush(self) -> None:
        """Write rows still buffered by ``table.row`` in tables this handle opened."""
        for t in list(self._unflushed):
            t.flush()

    def close(self) -> None:
        """Write buffered rows (as PyTables does), then close the bundle."""
        if not self._closed and self.writable:
            self.flush()
        super().close()

    def __enter__(self) -> File:
        return self

    def __str__(self) -> str:
        lines = [f"{self.path} (File) {self.title!r}", f"Last modif.: {self.commit['created_at']!r}",
                 "Object Tree: "]
        lines += [str(n) for n in self.walk_nodes("/")]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"File(filename={self.path!s}, title={self.title!r}, mode={self.mode!r}, root_uep='/', "
                f"filters={self.filters!r})\n{self}")

    # --- nodes ------------------------------------------------------------------------------
    def _wrap(self, path: str, kind: str) -> Any:
        if kind == "group":
            return Group(self, path)
        if kind == "link":
            return SoftLink(self, path)
        if kind == "file":
            return FileNodeLeaf(self, path)
        cls = _AttributeSetPeek(self, path).get("CLASS")
        if kind == "table":
            return VLArray(self, path) if cls == "VLARRAY" else Table(self, path)
        if kind == "array":
            return {"CARRAY": CArray, "EARRAY": EArray}.get(cls, Array)(self, path)
        return _ONode(self, path)

    def get_node(self, where: Any, name: str | None = None, classname: str | None = None) -> Any:
        path = _join(_abs(where), name) if not isinstance(where, _ONode) or name else where.path
        node = self[path]
        if classname is not None and not isinstance(node, _classname(classname)):
            raise TypeError(f"node ``{path}`` is not an instance of the ``{classname}`` class")
        return node

    def __getitem__(self, path: str) -> Any:
        try:
            return _bundle.Bundle.__getitem__(self, path)
        except NoSuchNodeError:
            raise
        except NotFoundError as e:  # PyTables' class, still an octavo NotFoundError
            raise NoSuchNodeError(str(e)) from None

    def __contains__(self, path: Any) -> bool:
        return _bundle.Bundle.__contains__(self, _abs(path))

    def __iter__(self) -> Iterator[Any]:
        return self.walk_nodes("/")

    def iter_nodes(self, where: Any, classname: str | None = None) -> Iterator[Any]:
        return self.get_node(where)._f_iter_nodes(classname)

    def list_nodes(self, where: Any, classname: str | None = None) -> Any:
        return list(self.iter_nodes(where, classname))

    def walk_nodes(self, where: Any = "/", classname: str | None = None) -> Iterator[Any]:
        """``where`` itself (if it matches) and every node below it, groups before their children."""
        cls = _classname(classname) if classname is not None else None
        top = self.get_node(where)
        if cls is None or isinstance(top, cls):
            yield top
        if not isinstance(top, _OGroup):
            return
        for n in self._native.walk(top.path):
            if n["path"] == top.path:
                continue
            node = self._wrap(n["path"], n["kind"])
            if cls is None or isinstance(node, cls):
                yield node

    def walk_groups(self, where: Any = "/") -> Iterator[Any]:
        return self.walk_nodes(where, "Group")

    def is_visible_node(self, path: str) -> bool:
        return path in self

    def _leaf_attrs(self, cls: str, title: str | None, extra: dict | None = None) -> dict:
        attrs = {"CLASS": cls}
        if title:
            attrs["TITLE"] = title
        attrs.update(extra or {})
        return attrs

    def create_group(self, where: Any, name: str, title: str = "", filters: Filters | None = None,  # type: ignore[override]
                     createparents: bool = False) -> Any:
        path = _join(_abs(where), name)
        super().create_group(path, None, title or None, create_parents=createparents)
        if filters is not None:
            self.set_node_attr(path, "FILTERS", _filters_dict(filters))
        return self.get_node(path)

    def create_table(self, where: Any, name: str, description: Any = None, title: str = "",  # type: ignore[override]
                     filters: Filters | None = None, expectedrows: int = 10_000, chunkshape: Any = None,
                     byteorder: str | None = None, createparents: bool = False, obj: Any = None,
                     track_times: bool = True) -> Any:
        """A table whose columns ``description`` gives (IsDescription subclass, dict of Cols,
        numpy structured dtype) or, with ``obj``, one holding that structured array."""
        path = _join(_abs(where), name)
        if description is None and obj is None:
            raise InvalidArgumentError(f"create_table({path!r}): give a description or obj")
        if description is None:
            description = np.asarray(obj).dtype
        dt, cols = _description_dtype(description, f"table {path!r}")
        schema = _schema_of(dt)
        opts = (filters or self._filters or Filters())._table_options()
        opts = {k: v for k, v in opts.items() if v is not None}
        super().create_table(path, schema=schema, title=title or None, create_parents=createparents, options=opts)
        t = self.get_node(path)
        if filters is not None:
            t.attrs["FILTERS"] = _filters_dict(filters)
        dflts = {n: c.dflt for n, c in cols.items() if c.dflt is not None}
        self._dflts[t.path] = dflts  # (defaults are per handle: octavo stores no column defaults)
        if isinstance(t, Table):
            if obj is not None:
                t.append(obj)
        return t

    def _create_array_node(self, cls: str, where: Any, name: str, obj: Any, atom: Atom | None, shape: Any,
                           title: str, filters: Filters | None, chunkshape: Any, createparents: bool,
                           extra: dict | None = None) -> Any:
        path = _join(_abs(where), name)
        kwargs = (filters or self._filters or Filters())._array_args() if cls != "ARRAY" else {"compressor": "zstd"}
        if obj is not None:
            data = np.asarray(obj) if not isinstance(obj, _OArray) else obj[...]
            if atom is not None:
                data = data.astype(atom.dtype)
            if data.dtype.kind == "U":
                data = data.astype(f"S{max(1, data.dtype.itemsize // 4)}")
            if data.dtype.kind == "O":
                raise SchemaError(f"array {path!r}: objects of type object cannot be stored; give numbers, bytes "
                                  "or strings, or use create_vlarray(..., ObjectAtom())")
            if shape is not None and _shape_arg(shape) != data.shape:
                raise InvalidArgumentError(f"array {path!r}: shape {shape} does not match obj's shape {data.shape}")
            _bundle.Bundle.create_array(self, path, data, chunks=_shape_arg(chunkshape) or None,
                                        attrs=self._leaf_attrs(cls, title, extra), create_parents=createparents,
                                        **kwargs)
        else:
            if atom is None or shape is None:
                raise InvalidArgumentError(f"array {path!r}: give obj, or atom and shape")
            shp = _shape_arg(shape)
            if atom.shape:
                shp = shp + atom.shape
            _bundle.Bundle.create_array(self, path, None, shape=shp, dtype=atom.dtype,
                                        chunks=_shape_arg(chunkshape) or None, fill_value=atom.dflt,
                                        attrs=self._leaf_attrs(cls, title, extra), create_parents=createparents,
                                        **kwargs)
        return self.get_node(path)

    def create_array(self, where: Any, name: str, obj: Any = None, title: str = "",  # type: ignore[override]
                     byteorder: str | None = None, createparents: bool = False, atom: Atom | None = None,
                     shape: Any = None, track_times: bool = True) -> Any:
        if obj is None and atom is None:
            raise InvalidArgumentError("create_array needs obj (the data), or atom and shape")
        return self._create_array_node("ARRAY", where, name, obj, atom, shape, title, None, None,
                                       createparents)

    def create_carray(self, where: Any, name: str, atom: Atom | None = None, shape: Any = None, title: str = "",
                      filters: Filters | None = None, chunkshape: Any = None, byteorder: str | None = None,
                      createparents: bool = False, obj: Any = None, track_times: bool = True) -> Any:
        return self._create_array_node("CARRAY", where, name, obj, atom, shape, title, filters, chunkshape,
                                       createparents)

    def create_earray(self, where: Any, name: str, atom: Atom | None = None, shape: Any = None, title: str = "",
                      filters: Filters | None = None, expectedrows: int = 1000, chunkshape: Any = None,
                      byteorder: str | None = None, createparents: bool = False, obj: Any = None,
                      track_times: bool = True) -> Any:
        """An array extendable along the axis where ``shape`` has a 0 (``append`` grows it)."""
        if obj is not None:
            data = np.asarray(obj)
            atom = atom or Atom.from_dtype(data.dtype)
            shape = shape or (0, *data.shape[1:])
        shp = _shape_arg(shape)
        zeros = [i for i, s in enumerate(shp) if s == 0]
        if len(zeros) != 1:
            raise InvalidArgumentError(f"create_earray: shape {shp} needs exactly one 0 (the extendable axis)")
        if chunkshape is None:
            chunkshape = tuple(max(1, s) if i != zeros[0] else max(1, min(expectedrows, 65_536))
                               for i, s in enumerate(shp))
        node = self._create_array_node("EARRAY", where, name, None, atom, shp, title, filters, chunkshape,
                                       createparents, {"EXTDIM": zeros[0]})
        if obj is not None:
            node.append(obj)
        return node

    def create_vlarray(self, where: Any, name: str, atom: Atom | None = None, title: str = "",
                       filters: Filters | None = None, expectedrows: int | None = None, chunkshape: Any = None,
                       byteorder: str | None = None, createparents: bool = False, obj: Any = None,
                       track_times: bool = True) -> Any:
        path = _join(_abs(where), name)
        if atom is None:
            raise InvalidArgumentError(f"create_vlarray({path!r}) needs an atom")
        if isinstance(atom, VLStringAtom) or isinstance(atom, ObjectAtom):
            t, kind = pa.binary(), "vlstring" if isinstance(atom, VLStringAtom) else "object"
        elif isinstance(atom, VLUnicodeAtom):
            t, kind = pa.string(), "vlunicode"
        else:
            t, kind = pa.list_(_arrow_type(atom.dtype)), "atom"
        schema = pa.schema([pa.field("vlarray", t)])
        opts = {k: v for k, v in (filters or self._filters or Filters())._table_options().items() if v is not None}
        _bundle.Bundle.create_table(self, path, schema=schema, title=title or None, create_parents=createparents,
                                    options=opts)
        _AttributeSetPeek(self, path).update({"CLASS": "VLARRAY", "VLATOM": kind, "VLDTYPE": atom.dtype.str})
        node = self.get_node(path)
        if obj is not None:
            for item in obj:
                node.append(item)
        return node

    def create_soft_link(self, where: Any, name: str, target: Any, createparents: bool = False) -> Any:  # type: ignore[override]
        link = super().create_soft_link(_abs(where), name, target, createparents=createparents)
        return SoftLink(self, link.path)

    def create_hard_link(self, where: Any, name: str, target: Any, createparents: bool = False) -> Any:
        raise OctavoNotImplementedError("octavo has no hard links: use create_soft_link, or copy_node (which "
                                        "shares the data files, so a copy costs no space)")

    def remove_node(self, where: Any, name: str | None = None, recursive: bool = False) -> None:
        path = self.get_node(where, name).path if not isinstance(where, _ONode) else _join(where.path, name)
        super().remove_node(path, None, recursive)

    def _replace(self, dst: str, overwrite: bool) -> None:
        if dst in self:
            if not overwrite:
                raise NodeError(f"destination node ``{dst}`` already exists; pass overwrite=True to replace it")
            super().remove_node(dst, None, True)

    def rename_node(self, where: Any, newname: str, name: str | None = None, overwrite: bool = False) -> None:
        src = self.get_node(where, name).path
        parent = src.rsplit("/", 1)[0] or "/"
        self._replace(_join(parent, newname), overwrite)
        super().rename_node(src, newname)

    def move_node(self, where: Any, newparent: Any = None, newname: str | None = None, name: str | None = None,  # type: ignore[override]
                  overwrite: bool = False, createparents: bool = False) -> None:
        src = self.get_node(where, name).path
        parent = _abs(newparent) if newparent is not None else (src.rsplit("/", 1)[0] or "/")
        self._replace(_join(parent, newname or src.rsplit("/", 1)[1]), overwrite)
        super().move_node(src, parent, newname, createparents=createparents)

    def copy_node(self, where: Any, newparent: Any = None, newname: str | None = None, name: str | None = None,  # type: ignore[override]
                  overwrite: bool = False, recursive: bool = False, createparents: bool = False,
                  **kwargs: Any) -> Any:
        src = self.get_node(where, name)
        parent = _abs(newparent) if newparent is not None else (src.path.rsplit("/", 1)[0] or "/")
        dst = _join(parent, newname or src.path.rsplit("/", 1)[1])
        self._replace(dst, overwrite)
        if isinstance(src, _OGroup) and not recursive and len(src):
            # PyTables copies a group's children only with recursive=True
            self.create_group(parent, dst.rsplit("/", 1)[1], src.attrs.get("TITLE", ""), createparents=createparents)
            return self.get_node(dst)
        return super().copy_node(src.path, parent, dst.rsplit("/", 1)[1], createparents=createparents)

    def copy_children(self, srcgroup: Any, dstgroup: Any, overwrite: bool = False, recursive: bool = False,
                      createparents: bool = False, **kwargs: Any) -> None:
        for child in self.get_node(srcgroup):
            self.copy_node(child.path, dstgroup, overwrite=overwrite, recursive=recursive,
                           createparents=createparents)

    def set_node_attr(self, where: Any, attrname: str, attrvalue: Any, name: str | None = None) -> None:
        self.get_node(where, name).attrs[attrname] = attrvalue

    def get_node_attr(self, where: Any, attrname: str, name: str | None = None) -> Any:
        attrs = self.get_node(where, name).attrs
        try:
            return attrs[attrname]
        except KeyError:
            raise AttributeError(f"attribute ``{attrname}`` does not exist in node: ``{attrs._path}``") from None

    def del_node_attr(self, where: Any, attrname: str, name: str | None = None) -> None:
        attrs = self.get_node(where, name).attrs
        if attrname not in attrs:
            raise AttributeError(f"attribute ``{attrname}`` does not exist in node: ``{attrs._path}``")
        del attrs[attrname]

    def copy_node_attrs(self, where: Any, dstnode: Any, name: str | None = None) -> None:
        src = self.get_node(where, name).attrs.to_dict()
        src.pop("CLASS", None)
        self.get_node(dstnode).attrs.update(src)


def _no_such_node(method: Any) -> Any:
    """PyTables raises NoSuchNodeError for a missing node (or parent): octavo's NotFoundError, as
    that class."""
    import functools

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except NoSuchNodeError:
            raise
        except NotFoundError as e:
            raise NoSuchNodeError(str(e)) from None
    return wrapper


for _name in ("create_group", "create_table", "create_array", "create_carray", "create_earray", "create_vlarray",
              "create_soft_link", "remove_node", "rename_node", "move_node", "copy_node", "set_node_attr",
              "get_node_attr", "del_node_attr"):
    setattr(File, _name, _no_such_node(getattr(File, _name)))


def _AttributeSetPeek(bundle: Any, path: str) -> AttributeSet:  # noqa: N802 (reads like a class)
    return AttributeSet(bundle, path)


# --- file nodes (tables.nodes.filenode) ----------------------------------------------------------

class _FileNodeHandle(io.BytesIO):
    """PyTables' file node: a readable, seekable, writable binary file kept in memory and stored
    (one commit) on ``close()``; 'a+' starts from the node's content."""

    def __init__(self, h5file: Any, path: str, content: bytes, writable: bool, append: bool):
        super().__init__(content)
        self._h5file = h5file
        self._node_path = path
        self._writable = writable
        self._append = append
        self._dirty = False
        if append:
            self.seek(0, os.SEEK_END)

    @property
    def node(self) -> Any:
        return self._h5file.get_node(self._node_path)

    def writable(self) -> bool:
        return self._writable

    def write(self, b: Any) -> int:
        if not self._writable:
            raise io.UnsupportedOperation(f"file node {self._node_path!r} was opened read-only")
        if self._append:
            self.seek(0, os.SEEK_END)
        self._dirty = True
        return super().write(b)

    def close(self) -> None:
        if self.closed:
            return
        if self._dirty:
            attrs = self._h5file.get_node(self._node_path).attrs.to_dict()
            with self._h5file.transaction(f"file node {self._node_path}"):
                w = self._h5file.create_file(self._node_path, overwrite=True)
                w.write(self.getvalue())
                w.close()
            self._h5file.get_node(self._node_path).attrs.update(attrs)
        super().close()


def _new_node(h5file: Any, where: Any = "/", name: str | None = None, title: str = "", **kwargs: Any) -> _FileNodeHandle:
    path = _join(_abs(where), name)
    if path in h5file:
        raise NodeError(f"node ``{path}`` already exists")
    with h5file.create_file(path, create_parents=False):
        pass
    attrs = {"NODE_TYPE": "file", "NODE_TYPE_VERSION": 2}
    if title:
        attrs["TITLE"] = title
    h5file.get_node(path).attrs.update(attrs)
    return _FileNodeHandle(h5file, path, b"", True, False)


def _open_node(node: Any, mode: str = "r") -> _FileNodeHandle:
    if mode not in ("r", "a+"):
        raise InvalidArgumentError(f"open_node: mode must be 'r' or 'a+' (as in PyTables), got {mode!r}")
    if not isinstance(node, _OFileNode):
        raise TypeError(f"node {getattr(node, 'path', node)!r} is not a file node")
    with node._bundle.open_file(node.path, "rb") as f:
        content = f.read()
    return _FileNodeHandle(node._bundle, node.path, content, mode == "a+", mode == "a+")


filenode = types.ModuleType("octavo.tables.nodes.filenode", "PyTables' file nodes over octavo file nodes.")
filenode.new_node = _new_node  # type: ignore[attr-defined]
filenode.open_node = _open_node  # type: ignore[attr-defined]
nodes = types.ModuleType("octavo.tables.nodes", "PyTables' nodes package: filenode.")
nodes.filenode = filenode  # type: ignore[attr-defined]
# `from octavo.tables.nodes import filenode` works as `from tables.nodes import filenode` does
sys.modules.setdefault("octavo.tables.nodes", nodes)
sys.modules.setdefault("octavo.tables.nodes.filenode", filenode)
