"""File nodes: arbitrary bytes inside a bundle, as ordinary Python file objects.

The bytes are stored content-addressed (BLAKE2b-256) by the C++ engine: see
include/octavo/file.h and docs/format.md section 9. ``create_file`` streams (constant
memory) and commits when closed; ``open_file`` is readable and seekable, so it works with
``PIL.Image.open``, ``json.load``, line iteration, ``shutil.copyfileobj``.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import IO, Any, cast

from . import _octavo
from .errors import InvalidArgumentError
from .node import Node


class FileNodeWriter(io.RawIOBase):
    """A write-only binary file that becomes a file node when closed.

    Used as a context manager, an exception inside the block aborts it: nothing is
    stored. ``info`` holds the node's size and digest after closing.
    """

    def __init__(self, native: _octavo.FileWriter, path: str):
        super().__init__()
        self._w = native
        self.path = path
        self.info: dict | None = None

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:  # any buffer
        if self.closed:
            raise ValueError(f"file node {self.path!r} is closed")
        mv = memoryview(b)
        if mv.nbytes == 0:
            return 0
        # (nanobind's uint8 ndarray argument takes any buffer; the stub says ndarray)
        return self._w.write(mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv)  # type: ignore[arg-type]

    def tell(self) -> int:
        return self._w.bytes_written

    def close(self) -> None:
        if not self.closed:
            try:
                if not self._w.closed:
                    self.info = self._w.close()
            finally:
                super().close()

    def abort(self) -> None:
        """Drop what was written; the bundle does not change."""
        if not self.closed:
            self._w.abort()
            super().close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.tell()} bytes written"
        return f"<octavo file writer {self.path!r}: {state}>"


class _RawFileReader(io.RawIOBase):
    def __init__(self, native: _octavo.FileReader, path: str):
        super().__init__()
        self._r = native
        self._pos = 0
        self.path = path
        self.name = path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:  # any writable buffer
        mv = memoryview(b).cast("B")
        if not mv.nbytes:
            return 0
        n = self._r.read_into(self._pos, mv)  # type: ignore[arg-type]  # (a buffer, as in write)
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._r.size + offset
        else:
            raise InvalidArgumentError(f"invalid whence {whence}")
        if pos < 0:
            raise InvalidArgumentError(f"negative seek position {pos} in file node {self.path!r}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos


def open_node_file(native_bundle: _octavo.Bundle, path: str, mode: str = "rb", encoding: str | None = None,
                   buffer_size: int = 1 << 16) -> IO[Any]:
    """'rb' / 'r': a buffered, seekable reader; 'ab': a writer appending to the node."""
    if mode in ("a", "ab"):
        return cast("IO[Any]", create_writer(native_bundle, path, True, True, append=True))  # file-like, not typing.IO
    if mode not in ("r", "rb", "rt"):
        raise InvalidArgumentError(f"open_file mode must be 'rb', 'r' or 'ab', not {mode!r} "
                                   "(use create_file to write a new file)")
    raw = _RawFileReader(_octavo.open_file(native_bundle, path), path)
    buffered = io.BufferedReader(raw, buffer_size=buffer_size)
    if mode == "rb":
        return buffered
    return io.TextIOWrapper(buffered, encoding=encoding or "utf-8")


def create_writer(native_bundle: _octavo.Bundle, path: str, overwrite: bool, create_parents: bool,
                  append: bool = False) -> FileNodeWriter:
    return FileNodeWriter(_octavo.create_file(native_bundle, path, overwrite, create_parents, append), path)


class FileNode(Node):
    """A file node. ``node.open()`` gives a file object; the node itself also reads like one
    (``read``, ``seek``, ``tell``, ``readline``, line iteration), as PyTables file nodes do, so
    ``PIL.Image.open(bundle.root.images.cat)`` works. ``size``, ``digest`` describe it.
    """

    kind = "file"

    @property
    def info(self) -> dict:
        return _octavo.file_info(self._bundle._native, self._path)

    @property
    def size(self) -> int:
        return self.info["size"]

    @property
    def digest(self) -> str:
        return self.info["digest"]

    def open(self, mode: str = "rb", encoding: str | None = None) -> IO[Any]:
        return open_node_file(self._bundle._native, self._path, mode, encoding)

    # The node as a read-only binary file (opened on first use).
    def _file(self) -> IO[bytes]:
        f = self.__dict__.get("_reader")
        if f is None:
            f = self.__dict__["_reader"] = self.open()
        return f

    def read(self, size: int = -1) -> bytes:
        return self._file().read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._file().readline(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file().seek(offset, whence)

    def tell(self) -> int:
        return self._file().tell()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._file())

    def verify(self) -> None:
        """Re-read the content and check it against the stored digest (CorruptionError if not)."""
        _octavo.open_file(self._bundle._native, self._path).verify()

    def __repr__(self) -> str:
        return f"<octavo file {self._path!r}: {self.size:,} bytes>"
