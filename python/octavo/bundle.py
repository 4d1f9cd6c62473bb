"""Python face of a bundle: PyTables-style hierarchy plus the DataFolio-style table API.

Everything here forwards to the C++ engine (octavo._octavo); this module only adapts
arguments and converts results between Arrow and pandas/polars.
"""
from __future__ import annotations

import builtins
import datetime
import html
import os
import re
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa

from . import _octavo
from . import query as _q  # (the name `query` is sql()'s argument)
from .array import Array, create_array, import_zarr
from .attrs import attrs_to_json, to_json
from .convert import Columns, Frame, TableData, to_arrow_stream
from .enums import Compressor, FileMode, Mode, Shuffle, name_arg
from .errors import (
    ClosedBundleError,
    InvalidArgumentError,
    NotFoundError,
    OctavoNotImplementedError,
    SchemaError,
    check_fspath,
    check_int,
    check_text,
)
from .files import FileNode, FileNodeWriter, create_writer, open_node_file
from .group import Group
from .link import SoftLink
from .node import Node, _abs, _join
from .progress import progress_callback
from .table import RowWriter, Table, _options

# Node, Group, SoftLink, Table and RowWriter lived in this module before they got modules of their
# own: they stay importable from here (``octavo.bundle.Table``) for code and pickles naming them so.
__all__ = ["Bundle", "Group", "Node", "RowWriter", "SoftLink", "Table", "open"]


def open(path: str | os.PathLike, mode: str | Mode = "r", *, commit: int | None = None,
         snapshot: str | None = None, wait: float | None = None, branch: str | None = None,
         storage_options: dict[str, str | bool] | None = None) -> Bundle:
    """Open a bundle directory, or a bundle on S3 (``s3://bucket/prefix/exp.octavo``).

    mode: 'r' read-only snapshot of the newest commit (no lock); 'a' read/write, created if
    missing; 'w' create, or start an existing bundle over with an empty tree (as a new
    commit: older commits stay readable). ``commit=N`` opens an older commit read-only;
    ``snapshot="name"`` the commit a named snapshot points at (see Bundle.create_snapshot).
    ``branch="name"`` follows a branch instead of main (see Bundle.create_branch): reads see
    its newest commit, and commits of a writer ('a') move the branch and leave main unchanged.

    Writers ('a', 'w') share a bundle: each commit is rebased onto commits other writers made
    meanwhile, and a change to a node another writer also changed raises ConflictError. Only
    garbage collection takes the bundle to itself; ``wait=seconds`` waits that long for it
    (``wait=float("inf")``: as long as it takes) instead of raising LockedError at once.

    ``storage_options`` (s3:// only): ``endpoint_url``, ``region``, ``access_key_id``,
    ``secret_access_key``, ``session_token``, ``allow_http`` (needed for an http:// endpoint);
    the AWS_* environment variables fill in what is left out. Commits on S3 are conditional
    writes (If-None-Match), so writers need no locks; a store without them is refused.
    """
    if mode != "r+":  # (r+: PyTables' spelling of "a")
        mode = name_arg(mode, Mode, "mode", check=True)
    if sum(x is not None for x in (commit, snapshot, branch)) > 1:
        raise InvalidArgumentError("give one of commit=, snapshot= and branch=, not several")
    path = check_fspath(path, "bundle path")
    check_bundle_path(path)
    check_text(snapshot, "snapshot name")
    check_text(branch, "branch name")
    if wait is not None and not (wait >= 0):
        raise InvalidArgumentError(f"wait must be a number of seconds >= 0, got {wait!r}")
    seconds = 0.0 if wait is None else -1.0 if wait == float("inf") else float(wait)
    options = _storage_options(path, storage_options)
    native = _octavo.Bundle.open(path, mode, -1 if commit is None else int(commit), snapshot or "", seconds,
                                 branch or "", options)
    return Bundle(native, mode if commit is None and snapshot is None else "r")


def _commit_ref(ref: int | str) -> str:
    """A commit reference in the engine's typed text form (CommitRef): an int is a commit id, a
    str a snapshot name (all digits too: "2024" is a snapshot, never commit 2024), or
    "branch:NAME" for a branch's newest commit."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise InvalidArgumentError(
            f"a commit is an int (its id) or a str (a snapshot name, or 'branch:NAME'), got {ref!r}")
    if isinstance(ref, int):
        if ref < 0:
            raise InvalidArgumentError(f"commit ids are >= 0, got {ref}")
        return str(ref)
    check_text(ref, "snapshot name")
    if not ref:
        raise InvalidArgumentError("a snapshot name must not be empty")
    if ref.startswith(("branch:", "snapshot:")):
        return ref
    return "snapshot:" + ref


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _storage_options(path: str, options: dict[str, str | bool] | None) -> dict[str, str]:
    """storage_options as the engine takes them (str values; booleans as 'true'/'false')."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InvalidArgumentError(f"storage_options must be a dict, got {type(options).__name__}")
    if not path.startswith("s3://"):
        raise InvalidArgumentError(f"storage_options apply to s3:// bundles only, not {path!r}")
    out = {}
    for k, v in options.items():
        if not isinstance(k, str) or not isinstance(v, (str, bool)):
            raise InvalidArgumentError(f"storage_options maps names to str (or bool) values, got {k!r}: {v!r}")
        out[k] = ("true" if v else "false") if isinstance(v, bool) else v
    return out


def check_bundle_path(path: str) -> None:
    """Paths that cannot be a bundle directory, refused with what to do instead: URLs other than
    s3:// (a local directory named 'gs:' would be made otherwise) and existing files (an HDF5
    file is converted with fileio / import_h5)."""
    if _URL.match(path):
        if path.startswith("s3://"):
            return
        raise OctavoNotImplementedError(
            f"{path!r}: of the object stores octavo supports S3 only (s3://bucket/prefix); other URLs "
            "(gs://, http://...) are not supported: copy the bundle to local disk (or a mounted file "
            "system) and open that path")
    if os.path.isfile(path):
        with builtins.open(path, "rb") as f:
            head = f.read(8)
        what = "an HDF5 file" if head == b"\x89HDF\r\n\x1a\n" else "a regular file"
        raise InvalidArgumentError(
            f"{path!r} is {what}, not an octavo bundle (a directory). Convert it once with "
            f"`octavo import {path} BUNDLE` (Python: octavo.fileio.import_h5(bundle, path); pandas files: "
            "octavo.fileio.read_dataframe / migrate_h5_to_parquet) and open the bundle, or choose a new path")


class _Closed:
    """Stands in for the engine handle of a closed bundle: every use is a ClosedBundleError."""

    def __init__(self, path: str):
        self._path = path

    def __getattr__(self, name: str) -> Any:
        raise ClosedBundleError(f"bundle {self._path!r} is closed; open it again with octavo.open()")


class Bundle:
    """A bundle opened with :func:`octavo.open`."""

    def __init__(self, native: _octavo.Bundle, mode: str):
        self._native = native
        self._mode = mode
        self._closed = False

    # --- lifecycle ----------------------------------------------------------
    @property
    def path(self) -> str:
        return self._native.path

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def writable(self) -> bool:
        return self._native.writable

    @property
    def commit(self) -> dict:
        """The commit this handle sees: id, parent, created_at, message, manifest_file."""
        return self._native.commit_info()

    def commits(self) -> list[dict]:
        """Every commit up to this handle's, oldest first (those gc --keep-last dropped are
        gone). A commit whose manifest is damaged raises CorruptionError naming the file:
        the history is never returned with a commit silently missing."""
        return self._native.list_commits()

    def commit_at(self, timestamp: Any) -> int:
        """The id of the newest commit made at or before ``timestamp`` (an ISO string, datetime or
        pandas Timestamp; naive means UTC). NotFoundError when the history starts later."""
        import pandas as pd

        try:
            ts = pd.Timestamp(timestamp)
        except (ValueError, TypeError) as e:
            raise InvalidArgumentError(f"timestamp {timestamp!r} is not a date/time: {e}") from None
        if ts is pd.NaT:
            raise InvalidArgumentError(f"timestamp {timestamp!r} is not a date/time")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        commits = self.commits()
        made = [c["id"] for c in commits if pd.Timestamp(c["created_at"]) <= ts]
        if not made:
            first = commits[0]["created_at"] if commits else "never"
            raise NotFoundError(f"bundle {self.path} has no commit at or before {ts.isoformat()} "
                                f"(its oldest kept commit was made at {first})")
        return max(made)

    def restore(self, commit_or_snapshot: int | str) -> dict:
        """Make a new commit (on this handle's branch) whose tree equals that of an older commit
        (an int), snapshot (a str) or branch ("branch:NAME"); returns the new commit. Nothing is
        copied: the old data files are referenced again, so they must not have been
        garbage-collected (NotFoundError names them)."""
        return self._native.restore(_commit_ref(commit_or_snapshot))

    def diff(self, a: int | str, b: int | str | None = None) -> list[dict]:
        """Nodes that differ from commit (or snapshot, or "branch:NAME") ``a`` to ``b`` (default: this handle's
        commit), sorted by path: dicts with path, kind, change ('added', 'removed',
        'modified'), rows_before / rows_after (tables; None otherwise), attrs_changed and
        content_changed."""
        return self._native.diff(_commit_ref(a), "" if b is None else _commit_ref(b))

    def create_snapshot(self, name: str, message: str = "", *, commit: int | None = None,
                        overwrite: bool = False) -> dict:
        """Name a commit (default: the newest) so it can be opened later with
        ``octavo.open(path, snapshot=name)``. Creates no commit."""
        check_text(name, "snapshot name")
        check_text(message, "snapshot message")
        return self._native.create_snapshot(name, message, -1 if commit is None else int(commit), overwrite)

    def snapshots(self) -> list[dict]:
        """Named snapshots: name, commit, created_at, message (sorted by name)."""
        return self._native.list_snapshots()

    def delete_snapshot(self, name: str) -> None:
        check_text(name, "snapshot name")
        self._native.delete_snapshot(name)

    # --- branches (docs/format.md 5.2) -----------------------------------------
    @property
    def branch(self) -> str:
        """The branch this handle follows ("main" unless opened with ``branch=``)."""
        return self._native.branch

    def create_branch(self, name: str, from_: int | str | None = None) -> dict:
        """Create branch ``name`` whose newest commit is ``from_`` (Python's ``from`` is a keyword):
        a commit id (int), a snapshot name or "branch:NAME" (str); default: this handle's commit.
        Open it with ``octavo.open(path, "a", branch=name)``. Creates no commit; returns name,
        head, created_at, from."""
        check_text(name, "branch name")
        return self._native.create_branch(name, "" if from_ is None else _commit_ref(from_))

    def branches(self) -> list[dict]:
        """Branches other than main: name, head, created_at, from (sorted by name)."""
        return self._native.list_branches()

    def delete_branch(self, name: str) -> None:
        """Forget a branch. Its commits stay until garbage collection finds that no other branch
        or snapshot needs them."""
        check_text(name, "branch name")
        self._native.delete_branch(name)

    def merge(self, branch: str) -> dict:
        """Merge ``branch`` ("main" too) into this handle's branch: changes made on one side since
        their common ancestor, appends to one table from both and new nodes combine into one
        new commit. A node both sides changed otherwise raises ConflictError naming it, and
        nothing is committed. Returns base (the common ancestor), committed (False when there
        was nothing to merge) and commit (the new commit, or the unchanged head)."""
        check_text(branch, "branch name")
        return self._native.merge(branch)

    def collect_garbage(self, keep_last: int | None = None, *, dry_run: bool = False,
                        progress: bool | None = None,
                        min_age: float | datetime.timedelta | None = None) -> dict:
        """Delete data files no kept commit references; returns what was (or would be) removed.

        By default the history of every branch is kept, so only files no commit of a branch
        ever referenced (failed or aborted writes, deleted branches) go. ``keep_last=N`` also
        drops commits older than the newest N of each branch, except those named by snapshots
        and those joining a branch to main (so it can still be merged): they can no longer be
        opened, and their files are freed.
        ``progress``: one step per data file examined (see octavo.progress).
        ``min_age`` (seconds or a timedelta): files and manifests younger than this are kept
        (counted in ``recent_kept``). The default is one hour on an object store, where
        nothing keeps other writers out while gc runs and their uploads are not yet
        referenced, and 0 on a disk, where the bundle's lock does.
        """
        if min_age is None:
            age = -1.0
        else:
            age = min_age.total_seconds() if isinstance(min_age, datetime.timedelta) else min_age
            if isinstance(age, bool) or not isinstance(age, (int, float)) or not age >= 0:
                raise InvalidArgumentError(f"min_age must be a non-negative number of seconds or a timedelta, "
                                           f"not {min_age!r}")
        with progress_callback(progress, "gc", "files") as cb:
            return self._native.collect_garbage(-1 if keep_last is None else int(keep_last), dry_run, progress=cb,
                                                min_age_seconds=float(age))

    gc = collect_garbage

    # --- the Delta Lake log (docs/format.md section 12) -----------------------
    @property
    def delta_log(self) -> bool:
        """Whether commits write each table's Delta Lake log (``_delta_log/`` in its folder)."""
        return self._native.delta_log_enabled()

    def set_delta_log(self, enabled: bool) -> None:
        """Turn the Delta log on or off for this bundle (one commit; the manifest's
        ``settings.delta_log``). Turning it on brings every table's log up to date."""
        self._native.set_delta_log(bool(enabled))

    def get_delta_path(self, name: str) -> str:
        """The table's Delta table directory: what ``deltalake.DeltaTable(path)``,
        ``polars.scan_delta(path)`` or Spark open without octavo."""
        return self._native.get_delta_path(name)

    def repair_delta_logs(self) -> dict:
        """Bring every table's Delta log up to the current commit (versions a failed log
        write left out are replayed from the manifests): ``versions_written``, ``errors``."""
        return self._native.repair_delta_logs()

    def refresh(self) -> None:
        """Read-only handles: move to the newest commit."""
        self._native.refresh()

    def close(self) -> None:
        """Release the bundle; afterwards it and its nodes refuse reads and writes."""
        if not self._closed:
            path = self._native.path
            self._native.close()
            self._native = _Closed(path)  # type: ignore[assignment]
            self._closed = True

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- hierarchy ----------------------------------------------------------
    @property
    def root(self) -> Group:
        return Group(self, "/")

    def _wrap(self, path: str, kind: str) -> Node:
        if kind == "group":
            return Group(self, path)
        if kind == "table":
            return Table(self, path)
        if kind == "link":
            return SoftLink(self, path)
        if kind == "array":
            return Array(self, path)
        if kind == "file":
            return FileNode(self, path)
        return Node(self, path)

    def __getitem__(self, path: str) -> Node:
        """The node at ``path``; soft links on the way (and at the end) are followed."""
        resolved = self._native.resolve_path(_abs(path) if path else "/")
        node = self._native.get_node(resolved)
        return self._wrap(node["path"], node["kind"])

    def get_link(self, path: str) -> SoftLink:
        """The link node itself, not what it points to."""
        node = self._native.get_node(_abs(path))
        if node["kind"] != "link":
            article = "an" if node["kind"][:1] in "aeiou" else "a"
            raise SchemaError(f"{node['path']!r} is {article} {node['kind']}, not a link")
        return SoftLink(self, node["path"])

    def get_node(self, where: str, name: str | None = None) -> Node:
        return self[_join(where, name)]

    def __contains__(self, path: str) -> bool:
        return self._native.exists(_abs(path))

    def __iter__(self) -> Iterator[Node]:
        return iter(self.root)

    def walk_nodes(self, where: str = "/", kind: str | None = None) -> Iterator[Node]:
        for n in self._native.walk(_abs(where)):
            if kind is None or n["kind"] == kind or (kind == "Leaf" and n["kind"] != "group"):
                yield self._wrap(n["path"], n["kind"])

    def walk_groups(self, where: str = "/") -> Iterator[Group]:
        return (g for g in self.walk_nodes(where, "group") if isinstance(g, Group))

    def create_group(self, where: str, name: str | None = None, title: str | None = None,
                     create_parents: bool = True) -> Group:
        path = _join(_abs(where), name)
        attrs_json = attrs_to_json({"TITLE": title}, path) if title else ""
        self._native.create_group(check_text(path, "group path"), create_parents, attrs_json)  # one commit
        return Group(self, self._native.get_node(path)["path"])

    def create_table(self, where: str, name: Any = None, data: TableData = None, *, schema: pa.Schema | None = None,
                     title: str | None = None, create_parents: bool = True, options: dict | None = None,
                     overwrite: bool = False, **kwargs: Any) -> Table:
        """Create a table from data (pandas, polars, pyarrow, dict of arrays) or from a schema.

        PyTables' ``create_table(where, name, description, title)`` order works too: a
        pyarrow Schema as ``data`` is taken as the description. The table, its title and
        (with ``overwrite``) the removal of a node already at the path are one commit.
        """
        opts = _options(options, kwargs)
        if name is not None and not isinstance(name, str):  # create_table(path, data)
            if data is not None:
                raise TypeError("create_table(where, name, data): name must be a string")
            name, data = None, name
        path = _join(_abs(where), name)
        if isinstance(data, pa.Schema):
            schema, data = data, None
        attrs_json = ""
        if title:
            attrs_json = to_json({"TITLE": title}, f"title of table {path!r}")
        if data is None:
            if schema is None:
                raise InvalidArgumentError(f"create_table({path!r}) needs data or a schema")
            for n in schema.names:
                check_text(n, f"table {path!r}: column name")
            native = self._native.create_table_from_schema(path, schema.__arrow_c_schema__(), opts, create_parents,
                                                           overwrite, attrs_json)
        else:
            stream, _ = to_arrow_stream(data, what=f"table {path!r}")
            native = self._native.create_table_from_stream(path, stream.__arrow_c_stream__(), opts, create_parents,
                                                           overwrite, attrs_json)
        return Table(self, native.path, native)

    def remove_node(self, where: str, name: str | None = None, recursive: bool = False) -> None:
        self._native.remove_node(_join(_abs(where), name), recursive)

    def rename_node(self, where: str, newname: str, name: str | None = None) -> None:
        """Rename a node in place (PyTables ``rename_node``)."""
        src = _join(_abs(where), name)
        parent = src.rsplit("/", 1)[0] or "/"
        self._native.move_node(src, _join(parent, newname), False)

    def move_node(self, where: str, newparent: str | None = None, newname: str | None = None,
                  name: str | None = None, createparents: bool = True) -> None:
        """Move a node (and its subtree); data files stay where they are."""
        src = _join(_abs(where), name)
        parent = _abs(newparent) if newparent else (src.rsplit("/", 1)[0] or "/")
        self._native.move_node(src, _join(parent, newname or src.rsplit("/", 1)[1]), createparents)

    def copy_node(self, where: str, newparent: str | None = None, newname: str | None = None,
                  name: str | None = None, createparents: bool = True) -> Node:
        """Copy a node recursively. Metadata only: tables share the source's data files."""
        src = _join(_abs(where), name)
        parent = _abs(newparent) if newparent else (src.rsplit("/", 1)[0] or "/")
        dst = _join(parent, newname or src.rsplit("/", 1)[1])
        self._native.copy_node(src, dst, createparents)
        return self[dst]

    def create_soft_link(self, where: str, name: str | None = None, target: str | None = None,
                         createparents: bool = True) -> SoftLink:
        """``create_soft_link(path, target)`` or PyTables' ``(where, name, target)``."""
        if target is None:
            path, target = _abs(where), name
        else:
            path = _join(_abs(where), name)
        if target is None:
            raise InvalidArgumentError("create_soft_link needs a target path")
        if isinstance(target, Node):
            target = target.path
        self._native.create_soft_link(path, _abs(target), createparents)
        return SoftLink(self, self._native.get_node(path)["path"])

    def transaction(self, message: str = "") -> _Transaction:
        """Group several changes into one atomic commit::

            with bundle.transaction("reorganise"):
                bundle.move_node("/a", "/b")
                bundle.remove_node("/c", recursive=True)

        An exception inside the block aborts it: nothing is committed.
        """
        return _Transaction(self, message)

    def create_array(self, path: str, data: Any = None, *, shape: int | tuple[int, ...] | None = None,
                     dtype: Any = None, chunks: int | tuple[int, ...] | None = None,
                     compressor: str | Compressor = "zstd", level: int | None = None, shuffle: bool | str | Shuffle = False, fill_value: Any = None,
                     attrs: dict | None = None, create_parents: bool = True, blocksize: int = 0) -> Array:
        """Create an n-d array (Zarr v3 chunks), filled from ``data`` if given, in one commit.

        dtype: bool, (u)int8..64, float16/32/64, complex64/128, S<n>, U<n>. compressor: zstd
        (default), lz4, gzip, zlib, none, blosc[:blosclz|lz4|lz4hc|zlib|zstd]; ``level`` its
        level; ``shuffle`` True (byte shuffle) or 'bitshuffle' (blosc); ``blocksize`` blosc's.
        chunks=None picks ~1 MiB chunks.
        """
        return create_array(self, _abs(path), data, shape=shape, dtype=dtype, chunks=chunks, compressor=compressor,
                            level=level, shuffle=shuffle, fill_value=fill_value, attrs=attrs,
                            create_parents=create_parents, blocksize=blocksize)

    # --- file nodes -----------------------------------------------------------
    def create_file(self, path: str, *, overwrite: bool = False, create_parents: bool = True) -> FileNodeWriter:
        """A writable binary file object; closing it commits the file node (streaming, any size).

        ``with bundle.create_file("/images/cat.png") as f: f.write(data)``; an exception in
        the block stores nothing. Content is stored once per distinct bytes (BLAKE2b-256).
        """
        return create_writer(self._native, _abs(path), overwrite, create_parents)

    def open_file(self, path: str, mode: str | FileMode = "rb", encoding: str | None = None) -> IO[Any]:
        """A readable, seekable file object ('rb', or 'r' for text) at this bundle's commit;
        mode 'ab' a writer that appends to the file node (committed when closed)."""
        return open_node_file(self._native, _abs(path), mode, encoding)

    def put_file(self, local: str | os.PathLike, path: str, *, overwrite: bool = False,
                 create_parents: bool = True) -> dict:
        """Copy a local file into a file node (streamed in C++); returns its size and digest."""
        return _octavo.put_file(self._native, check_fspath(local, "local file"), _abs(path), overwrite, create_parents)

    def get_file(self, path: str, local: str | os.PathLike) -> None:
        """Copy a file node to a local file, checking the digest; written atomically."""
        _octavo.get_file(self._native, _abs(path), check_fspath(local, "local file"))

    def file_info(self, path: str) -> dict:
        """size, digest, blob (content file), created_at, modified_at."""
        return _octavo.file_info(self._native, _abs(path))

    def import_zarr(self, source: Any, path: str, **kwargs: Any) -> Node:
        """Copy a zarr-python array or group (or a Zarr path) to ``path``, in one commit."""
        return import_zarr(self, source, _abs(path), **kwargs)

    def import_sqlite(self, paths: str | os.PathLike[str] | list[str | os.PathLike[str]], path: str = "/",
                      table: str | None = None, query: str | None = None, append: bool = False,
                      since: str | None = None, *, keep_text_timestamps: bool = False,
                      batch_rows: int | None = None, progress: bool | None = None) -> dict:
        """Import SQLite databases (C++, libsqlite3; read-only, the sources are never modified),
        the same as ``octavo import a.db b.db BUNDLE:/path``.

        ``table``: one table; ``query``: a read-only SELECT's result (both into the table at
        ``path``); neither: every table, one bundle table each under the group ``path``. Rows
        of several databases go into one table in the order given; everything is one commit,
        and nothing is committed on any error. ``append`` adds to existing tables; ``since``
        (a column) adds only rows whose value there exceeds the table's current maximum.
        Type rules: docs/import.md. Returns {"files", "tables": [{"source", "path", "rows",
        "skipped", "created"}], "rows", "commit", "notes"}. ``progress``: one step per table
        (see octavo.progress)."""
        sources = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        files = [check_fspath(p, "SQLite database") for p in sources]
        with progress_callback(progress, "import", "tables") as cb:
            return _octavo.sqlite_import(
                self._native, files, _abs(path),
                table=check_text(table, "table name") if table is not None else "",
                query=check_text(query, "query") if query is not None else "",
                append=bool(append), since=check_text(since, "since column") if since is not None else "",
                keep_text_timestamps=bool(keep_text_timestamps), batch_rows=int(batch_rows or 0), progress=cb)

    def import_csv(self, paths: str | os.PathLike[str] | list[str | os.PathLike[str]], path: str,
                   append: bool = False, delimiter: str = ",", null_values: list[str] | None = None, *,
                   header: bool = True, keep_text_timestamps: bool = False, block_size: int | None = None,
                   progress: bool | None = None) -> dict:
        """Import CSV files (C++, Arrow's CSV reader; ``.gz`` files decompressed) into the table
        at ``path``, the same as ``octavo import a.csv b.csv BUNDLE:/path``.

        Types are decided over every row of every file, with the rules of SQLite import
        (docs/import.md): integers -> int64, with reals -> float64, true/false -> bool,
        date-times -> timestamp[us] (UTC with a zone on each), text mixed with numbers -> string
        (a note says so), nulls from ``null_values`` (default: pandas.read_csv's NA values,
        ``_octavo.csv_default_null_values()``). Several files go into one table in the order
        given, in one commit; nothing is committed on any error. ``append`` adds to an existing
        table, converting to its types. Returns {"files", "path", "rows", "created", "commit",
        "columns", "notes"}. ``progress``: one step per file (see octavo.progress)."""
        sources = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        files = [check_fspath(p, "CSV file") for p in sources]
        nulls = None if null_values is None else [check_text(v, "null value") for v in null_values]
        with progress_callback(progress, "import", "files") as cb:
            return _octavo.csv_import(
                self._native, files, _abs(path), append=bool(append),
                delimiter=check_text(delimiter, "delimiter"), header=bool(header), null_values=nulls,
                keep_text_timestamps=bool(keep_text_timestamps), block_size=int(block_size or 0), progress=cb)

    def table(self, name: str) -> Table:
        return Table(self, _abs(name))

    def scan(self, name: str) -> Any:
        """A polars LazyFrame over table ``name`` (see Table.lazy)."""
        return self.table(name).lazy()

    # --- DataFolio-style API --------------------------------------------------
    def add_table(self, name: str, data: TableData, *, overwrite: bool = False, options: dict | None = None,
                  **kwargs: Any) -> Table:
        """Store a DataFrame (pandas/polars), pyarrow Table or dict of arrays as table ``name``."""
        return self.create_table(_abs(name), data=data, options=options, overwrite=overwrite, **kwargs)

    def add_data(self, name: str, data: Any, *, overwrite: bool = False, **kwargs: Any) -> Node:
        """DataFolio's generic add: a DataFrame (pandas/polars), pyarrow Table or dict of arrays
        becomes a table, a numpy array an array, bytes a file node, a path to a local file its
        copy as a file node."""
        import numpy as np

        path = _abs(name)
        if isinstance(data, np.ndarray):
            if overwrite and path in self:
                with self.transaction(f"replace {path}"):
                    self.remove_node(path, recursive=True)
                    return self.create_array(path, data, **kwargs)
            return self.create_array(path, data, **kwargs)
        if isinstance(data, (bytes, bytearray, memoryview)):
            with self.create_file(path, overwrite=overwrite) as f:
                f.write(data)
            return self[path]
        if isinstance(data, (str, os.PathLike)):
            if not os.path.isfile(data):
                raise InvalidArgumentError(f"add_data({name!r}): {os.fspath(data)!r} is not a file; give a data "
                                           "frame, an array, bytes or the path of a local file")
            self.put_file(data, path, overwrite=overwrite)
            return self[path]
        return self.add_table(path, data, overwrite=overwrite, **kwargs)

    def append_table(self, name: str, data: TableData, *, schema_mode: str | None = None) -> None:
        """Append rows to ``name`` (created if it does not exist yet); see Table.append."""
        path = _abs(name)
        if not self._native.exists(path):
            self.create_table(path, data=data)
            return
        self.table(path).append(data, schema_mode=schema_mode)

    def get_table(self, name: str, return_type: str | None = None, columns: Columns = None,
                  offset: int | None = None, limit: int | None = None, where: str | None = None,
                  condvars: dict | None = None, version: int | None = None, timestamp: Any = None) -> Frame:
        """Read a table; ``columns`` a projection, ``offset`` the first row. Without ``where``,
        ``limit`` rows from ``offset``; with ``where`` (a condition, docs/queries.md), the first
        ``limit`` rows from ``offset`` on where it holds (the scan stops once they are found,
        except for pandas tables with a RangeIndex, whose row labels need the full where list).
        ``version``: the table as it was at that commit id (see commits()); ``timestamp`` (an
        ISO string, datetime or pandas Timestamp; naive means UTC): as it was at that instant,
        i.e. at the newest commit made at or before it (Delta Lake's rule)."""
        if timestamp is not None:
            if version is not None:
                raise InvalidArgumentError(f"get_table({name!r}): give version= or timestamp=, not both")
            version = self.commit_at(timestamp)
        if version is not None:  # the table as of commit `version` (DataFolio's time travel)
            with open(self.path, "r", commit=int(version)) as old:
                return old.get_table(name, return_type, columns, offset, limit, where, condvars)
        start = check_int(offset or 0, f"get_table({name!r}): offset")
        if limit is not None:
            limit = check_int(limit, f"get_table({name!r}): limit")
        if limit is not None and limit < 0:
            # (offset + limit would otherwise count from the end: silently other rows)
            raise InvalidArgumentError(f"get_table({name!r}): limit must be >= 0 (None for every row), got {limit}")
        if where is not None:
            if limit is None:
                return self.table(name).read_where(where, columns, start, None, condvars, return_type)
            return _q.read_where_first(self.table(name), where, int(limit), columns, start, condvars, return_type)
        stop = None if limit is None else start + int(limit)
        return self.table(name).read(start, stop, columns=columns, return_type=return_type)

    def iter_table(self, name: str, chunk_size: int = 10_000, columns: Columns = None,
                   return_type: str | None = None, where: str | None = None,
                   condvars: dict | None = None) -> Iterator[Frame]:
        if where is not None:
            return iter(self.table(name).where(where, columns, condvars=condvars, chunk_size=chunk_size,
                                               return_type=return_type))
        return self.table(name).iter_batches(chunk_size, columns, return_type)

    # --- SQL (DuckDB) ---------------------------------------------------------------
    def sql(self, query: str, return_type: str | None = None, stream: bool = False) -> Any:
        """Run SQL over the bundle's tables at this handle's commit, through DuckDB.

        Root-level tables are visible by bare name, every table by its quoted path
        (``"/data/readout"``). DuckDB reads the Parquet parts directly, pushing projections
        and filters into them. ``return_type``: 'pandas' (default), 'polars', 'arrow';
        ``stream=True`` returns a pyarrow RecordBatchReader.
        """
        return _q.sql(self, query, return_type, stream)

    def sort_by(self, name: str, columns: Columns, **kwargs: Any) -> None:
        """Rewrite table ``name`` sorted by ``columns`` (see Table.sort_by)."""
        self.table(name).sort_by(columns, **kwargs)

    def query_table(self, name: str, query: str, return_type: str | None = None, stream: bool = False) -> Any:
        """SQL over one table, called ``table`` in the query: ``SELECT avg(x) FROM table``."""
        return _q.query_table(self, name, query, return_type, stream)

    def preview_table(self, name: str, n: int = 10, return_type: str | None = None) -> Frame:
        return self.table(name).head(n, return_type=return_type)

    def table_info(self, name: str) -> dict:
        """Rows, columns, size, names, dtypes and schema, from the manifest alone."""
        i = self.table(name).info()
        return {
            "rows": i["num_rows"],
            "columns": i["num_columns"],
            "size_mb": i["size_bytes"] / 1e6,
            "column_names": i["column_names"],
            "dtypes": dict(zip(i["column_names"], i["column_types"], strict=True)),
            "parquet_schema": i["schema"],
            "created_at": i["created_at"],
            "modified_at": i["modified_at"],
            "num_parts": i["num_parts"],
            "size_bytes": i["size_bytes"],
            "path": i["path"],
        }

    def get_table_path(self, name: str) -> list[str]:
        """Absolute paths of the table's current Parquet parts (a list: a table may have several).

        DuckDB ``read_parquet(paths)``, ``polars.scan_parquet(paths)`` and
        ``pyarrow.dataset.dataset(paths)`` all take the list as it is.
        """
        return self.table(name).part_paths

    def get_all_table_paths(self) -> dict[str, list[str]]:
        out = {}
        for n in self._native.walk("/"):
            if n["kind"] == "table":
                p = n["path"]
                key = p[1:] if p.count("/") == 1 else p
                out[key] = self.table(p).part_paths
        return out

    def list_tables(self) -> list[str]:
        return [n["path"] for n in self._native.walk("/") if n["kind"] == "table"]

    # --- display ----------------------------------------------------------------
    def _summary_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for n in self._native.walk("/"):
            if n["kind"] == "table":
                i = self._native.open_table(n["path"]).info()
                rows.append((n["path"], "table", f"{i['num_rows']:,} rows × {i['num_columns']} cols, "
                             f"{i['size_bytes'] / 1e6:.1f} MB"))
            else:
                rows.append((n["path"], n["kind"], ""))
        return rows

    def __repr__(self) -> str:
        c = self.commit
        lines = [f"<octavo.Bundle {self.path!r} mode={self._mode!r} commit={c['id']}>"]
        for path, kind, desc in self._summary_rows()[:50]:
            lines.append(f"  {path} ({kind}) {desc}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        c = self.commit
        rows = "".join(
            f"<tr><td><code>{html.escape(p)}</code></td><td>{k}</td><td>{html.escape(d)}</td></tr>"
            for p, k, d in self._summary_rows()[:200]
        )
        return (f"<div><b>octavo bundle</b> <code>{html.escape(self.path)}</code> — commit {c['id']} "
                f"({html.escape(c['created_at'])})<table><tr><th>node</th><th>kind</th><th>summary</th></tr>"
                f"{rows}</table></div>")


class _Transaction:
    def __init__(self, bundle: Bundle, message: str):
        self._bundle = bundle
        self._message = message

    def __enter__(self) -> Bundle:
        check_text(self._message, "commit message")
        self._bundle._native.begin_transaction()
        return self._bundle

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self._bundle._native.commit_transaction(self._message)
        else:
            self._bundle._native.abort_transaction()
