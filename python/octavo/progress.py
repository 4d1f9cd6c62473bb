"""Progress display for the engine's long operations (``progress=None|True|False``).

None (the default) shows progress only when stderr is a terminal, so scripts, logs and
notebooks' captured output stay clean; True always shows it; False never. Drawn with tqdm
when it is installed, otherwise as throttled plain lines on stderr. The engine reports
(done, total, item) through the callback; total 0 means not known ahead."""
from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

ProgressCallback = Callable[[int, int, str], None]


def _enabled(progress: bool | None, size: int | None = None, min_size: int = 0) -> bool:
    if progress is None:
        if size is not None and size < min_size:
            return False  # small work (an append in a loop): no bar flashing by
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):  # no stderr, or a closed one
            return False
    if not isinstance(progress, bool):
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(f"progress must be None, True or False, not {progress!r}")
    return progress


@contextlib.contextmanager
def progress_callback(progress: bool | None, desc: str, unit: str, *, size: int | None = None,
                      min_size: int = 0) -> Iterator[ProgressCallback | None]:
    """The callback to hand the engine (None when progress is off), closed on exit. With
    ``progress=None``, work of a known ``size`` below ``min_size`` shows nothing."""
    if not _enabled(progress, size, min_size):
        yield None
        return
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(desc=desc, unit=unit, file=sys.stderr, total=None, dynamic_ncols=True)

        def draw(done: int, total: int, item: str) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.set_postfix_str(item[-40:], refresh=False)
            bar.refresh()

        try:
            yield draw
        finally:
            bar.close()
        return

    last = [0.0]

    def line(done: int, total: int, item: str) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and done != total:
            return
        last[0] = now
        of = f"/{total}" if total else ""
        print(f"{desc}: {done}{of} {unit} {item}", file=sys.stderr, flush=True)

    yield line
