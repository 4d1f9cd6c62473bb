"""SoftLink: a node that names another node's path."""
from __future__ import annotations

from .node import Node


class SoftLink(Node):
    """A soft link (PyTables ``create_soft_link``): ``link()`` or ``bundle[path]`` resolves it."""

    kind = "link"

    @property
    def target(self) -> str:
        return self._bundle._native.link_target(self._path)

    def __call__(self) -> Node:
        return self._bundle[self._path]

    def is_dangling(self) -> bool:
        return not self._bundle._native.exists(self.target)

    def __repr__(self) -> str:
        return f"<octavo.SoftLink {self._path!r} -> {self.target!r}>"
