"""Group: a directory of the hierarchy (PyTables natural naming: ``b.root.detector.readout``)."""
from __future__ import annotations

from collections.abc import Iterator

from .errors import NotFoundError
from .node import Node, _join


class Group(Node):
    kind = "group"

    def _children(self) -> list[dict]:
        return self._bundle._native.list_children(self._path)

    def __iter__(self) -> Iterator[Node]:
        for c in self._children():
            yield self._bundle._wrap(c["path"], c["kind"])

    def __len__(self) -> int:
        return len(self._children())

    def __contains__(self, name: str) -> bool:
        return self._bundle._native.exists(_join(self._path, name) if not name.startswith("/") else name)

    def __getitem__(self, name: str) -> Node:
        return self._bundle[_join(self._path, name) if not name.startswith("/") else name]

    def __getattr__(self, name: str) -> Node:  # PyTables natural naming: b.root.detector.readout
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except NotFoundError:
            raise AttributeError(f"group {self._path!r} has no child {name!r}") from None

    def keys(self) -> list[str]:
        return [c["path"].rsplit("/", 1)[-1] for c in self._children()]

    def __repr__(self) -> str:
        return f"<octavo.Group {self._path!r} ({len(self)} children)>"
