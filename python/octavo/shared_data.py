"""Named shared data for worker processes (the seed's shared-data manager, on shared tables).

    # coordinator, before creating the pool (fork, spawn or forkserver):
    from octavo import shared_data
    shared_data.set_shared("headers", bundle["/headers"], columns=["cdp", "offset"])
    shared_data.set_shared("ensembles", ensemble_df)
    with ProcessPoolExecutor(8) as pool: ...
    shared_data.clear_shared()

    # worker:
    headers = shared_data.get_shared("headers")               # pandas DataFrame, zero-copy numeric columns
    arrays = shared_data.get_shared_arrays("ensembles")       # {column: read-only numpy view}

Names travel to workers in the environment variable OCTAVO_SHARED_DATA (a JSON object
name -> handle), which fork copies and spawn / forkserver children inherit when they are
started; each process attaches a name once and keeps the mapping. A forkserver is started
once, with the environment of that moment: call set_shared() before its first use, or pass
``SharedTable.handle`` to the workers yourself.
"""
from __future__ import annotations

import json
import os

from .errors import InvalidArgumentError, NotFoundError
from .share import DEFAULT_DIRECTORY, AttachedTable, SharedTable, attach, share

ENV_VAR = "OCTAVO_SHARED_DATA"

_published: dict[str, SharedTable] = {}   # names this process published
_attached: dict[str, tuple[str, AttachedTable]] = {}  # name -> (handle, view), per process


def _registry() -> dict:
    text = os.environ.get(ENV_VAR)
    if not text:
        return {}
    try:
        reg = json.loads(text)
    except ValueError as e:
        raise InvalidArgumentError(f"environment variable {ENV_VAR} is not the JSON object octavo.shared_data "
                                   f"writes: {e}") from e
    if not isinstance(reg, dict):
        raise InvalidArgumentError(f"environment variable {ENV_VAR} is not a JSON object")
    return reg


def _save(reg: dict) -> None:
    if reg:
        os.environ[ENV_VAR] = json.dumps(reg)
    else:
        os.environ.pop(ENV_VAR, None)


def set_shared(name: str, data, columns=None, *, where=None, directory=DEFAULT_DIRECTORY) -> SharedTable:
    """Publish ``data`` (a bundle table, DataFrame, pyarrow Table or dict of numpy arrays) under
    ``name`` for workers started after this call. Replaces (and removes) an earlier ``name``."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("shared data name must be a non-empty str")
    shared = share(data, columns=columns, where=where, directory=directory)
    old = _published.pop(name, None)
    _published[name] = shared
    _attached.pop(name, None)
    reg = _registry()
    reg[name] = shared.handle
    _save(reg)
    if old is not None:
        old.close()
    return shared


def _view(name: str) -> AttachedTable:
    reg = _registry()
    handle = reg.get(name)
    if handle is None:
        raise NotFoundError(f"no shared data named {name!r} (set_shared() it in the parent before starting "
                            f"the workers; known: {sorted(reg)})")
    cached = _attached.get(name)
    if cached is not None and cached[0] == handle:
        return cached[1]
    view = attach(handle)
    _attached[name] = (handle, view)
    return view


def get_shared(name: str, return_type: str = "pandas"):
    """The shared data ``name``: 'pandas' (default), 'polars', 'arrow', or 'attached' (the view)."""
    view = _view(name)
    if return_type == "pandas":
        return view.to_pandas()
    if return_type == "polars":
        return view.to_polars()
    if return_type == "arrow":
        return view.to_arrow()
    if return_type == "attached":
        return view
    raise InvalidArgumentError(f"return_type must be 'pandas', 'polars', 'arrow' or 'attached', got {return_type!r}")


def get_shared_arrays(name: str, columns=None) -> dict:
    """{column: numpy array} of the shared data ``name`` (read-only views of the shared memory)."""
    return _view(name).arrays(columns)


def has_shared(name: str) -> bool:
    return name in _registry()


def shared_names() -> list[str]:
    return sorted(_registry())


def clear_shared() -> None:
    """Remove every segment this process published and forget all names (in this process)."""
    reg = _registry()
    for name, shared in list(_published.items()):
        reg.pop(name, None)
        shared.close()
    _published.clear()
    _attached.clear()
    _save({})


def shared_memory_usage() -> int:
    """Bytes of the segments this process has published (each counted once, however many
    processes attach them)."""
    return sum(s.size_bytes for s in _published.values() if not s.closed)
