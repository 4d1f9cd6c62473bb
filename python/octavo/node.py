"""Node: what every object in a bundle's hierarchy has (path, name, attributes), and the
path helpers the hierarchy, table, array and file modules share."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .attrs import AttributeSet
from .errors import check_text

if TYPE_CHECKING:
    from .bundle import Bundle


def _join(where: str, name: str | None) -> str:
    if name is None:
        return where
    check_text(name, "node name")
    if where in ("", "/"):
        return "/" + name
    return where.rstrip("/") + "/" + name


def _abs(name: str | os.PathLike[str] | Node) -> str:
    """DataFolio names without a leading '/' live at the root; a Node (PyTables' ``where=group``)
    stands for its path."""
    if isinstance(name, Node):
        return name.path
    name = os.fspath(name) if isinstance(name, os.PathLike) else name
    check_text(name, "node path")
    return name if name.startswith("/") else "/" + name


class Node:
    kind = "node"

    def __init__(self, bundle: Bundle, path: str):
        self._bundle = bundle
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    @property
    def name(self) -> str:
        return self._path.rsplit("/", 1)[-1] or "/"

    @property
    def attrs(self) -> AttributeSet:
        return AttributeSet(self._bundle, self._path)

    _v_attrs = attrs  # PyTables spelling

    @property
    def _v_pathname(self) -> str:
        return self._path

    @property
    def _v_name(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other._bundle is self._bundle and other._path == self._path

    def __hash__(self) -> int:
        return hash((id(self._bundle), self._path))

    def __repr__(self) -> str:
        return f"<octavo.{type(self).__name__} {self._path!r}>"
