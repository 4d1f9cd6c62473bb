"""Shared helpers for the octavo benchmarks: timing, peak-memory probes, result tables.

Nothing here depends on octavo; the bench scripts import it as ``common`` (they put
this directory on sys.path themselves).
"""
from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(BENCH_DIR, "data")


# --- timing -------------------------------------------------------------------------

def best_of(fn: Callable[[], Any], repeat: int = 3, *, setup: Callable[[], Any] | None = None,
            warmup: bool = False) -> float:
    """Best wall time (seconds, time.perf_counter) of ``repeat`` calls of ``fn``.

    ``setup`` runs before every call and is not timed (e.g. deleting the previous output).
    The result of ``fn`` is dropped (and garbage collected) before the next call, so a large
    result does not inflate the next measurement's memory or time.
    """
    if warmup:
        if setup:
            setup()
        r = fn()
        del r
    best = float("inf")
    for _ in range(max(1, repeat)):
        if setup:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t0
        del r
        best = min(best, dt)
    gc.collect()
    return best


def adaptive_repeat(fn: Callable[[], Any], budget_s: float = 2.0, max_repeat: int = 50,
                    min_repeat: int = 3) -> float:
    """Best-of-k where k fits a time budget: many repeats for fast calls, few for slow ones."""
    gc.collect()
    t0 = time.perf_counter()
    r = fn()
    first = time.perf_counter() - t0
    del r
    k = int(budget_s / max(first, 1e-6))
    k = max(min_repeat, min(max_repeat, k))
    return min(first, best_of(fn, k))


# --- memory -------------------------------------------------------------------------

def _proc_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_rss_bytes() -> int:
    kb = _proc_status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil

    return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    kb = _proc_status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class MemoryProbe:
    """Used inside a child process: ``mark()`` after imports/opening, before the workload."""

    def __init__(self) -> None:
        self.baseline = None
        self.t0 = None

    def mark(self) -> None:
        gc.collect()
        self.resettable = reset_peak_rss()
        self.baseline = current_rss_bytes()
        self.t0 = time.perf_counter()

    def report(self, result: Any = None) -> dict:
        dt = time.perf_counter() - self.t0
        peak = peak_rss_bytes()
        return {"baseline_rss": self.baseline, "peak_rss": peak, "delta_rss": max(0, peak - self.baseline),
                "seconds": dt, "peak_reset": self.resettable, "result": result}


_CHILD = r"""
import json, sys
sys.path.insert(0, {bench_dir!r})
from common import MemoryProbe
import {module} as mod
probe = MemoryProbe()
result = getattr(mod, {func!r})(probe, *json.loads({args!r}))
print("@@RESULT@@" + json.dumps(probe.report(result)))
"""


def run_in_fresh_process(module: str, func: str, *args: Any, timeout: float = 1800) -> dict:
    """Run ``module.func(probe, *args)`` (module in bench/) in a fresh Python interpreter.

    The function does its imports and opens files, calls ``probe.mark()``, runs the
    workload and returns a JSON-able result. Returned: baseline RSS at mark(), peak RSS
    after it (VmHWM reset at mark), their difference and the workload's wall time.
    """
    code = _CHILD.format(bench_dir=BENCH_DIR, module=module, func=func, args=json.dumps(list(args)))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"child {module}.{func}{args} failed ({p.returncode}):\n{p.stderr[-4000:]}")
    for line in p.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    raise RuntimeError(f"child {module}.{func} printed no result:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")


# --- results --------------------------------------------------------------------------

@dataclass
class Entry:
    tool: str
    value: float            # seconds, or bytes for memory workloads
    peer: bool = True       # counted when picking the fastest peer
    note: str = ""


@dataclass
class Workload:
    name: str
    unit: str = "s"         # "s" or "MiB"
    entries: list[Entry] = field(default_factory=list)
    note: str = ""

    def add(self, tool: str, value: float, *, peer: bool = True, note: str = "") -> None:
        self.entries.append(Entry(tool, value, peer, note))

    def octavo(self) -> Entry | None:
        for e in self.entries:
            if e.tool == "octavo":
                return e
        return None

    def best_peer(self) -> Entry | None:
        peers = [e for e in self.entries if e.peer and e.tool != "octavo" and e.value == e.value]
        return min(peers, key=lambda e: e.value) if peers else None

    def ratio(self) -> float | None:
        o, p = self.octavo(), self.best_peer()
        if not o or not p or p.value <= 0:
            return None
        return o.value / p.value


def fmt_value(v: float, unit: str) -> str:
    if v != v:
        return "n/a"
    if unit == "s":
        if v < 1e-3:
            return f"{v * 1e6:.0f} µs"
        if v < 1.0:
            return f"{v * 1e3:.1f} ms"
        return f"{v:.2f} s"
    if unit == "MiB":
        return f"{v:,.0f} MiB" if v >= 10 else f"{v:.1f} MiB"
    return f"{v:g} {unit}"


def fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}"


def print_workload(w: Workload) -> None:
    o = w.octavo()
    print(f"\n== {w.name}" + (f"  ({w.note})" if w.note else ""))
    width = max(len(e.tool) for e in w.entries) + 2
    for e in w.entries:
        rel = ""
        if o and e is not o and e.value > 0 and o.value == o.value:
            rel = f"  octavo/this = {o.value / e.value:.2f}"
        tag = "" if e.peer or e.tool == "octavo" else "  [reference, not ranked]"
        note = f"  ({e.note})" if e.note else ""
        print(f"  {e.tool:<{width}} {fmt_value(e.value, w.unit):>12}{rel}{tag}{note}")
    bp = w.best_peer()
    if o and bp:
        print(f"  -> octavo / fastest peer ({bp.tool}) = {fmt_ratio(w.ratio())}")
    sys.stdout.flush()


def summary_rows(workloads: list[Workload]) -> list[list[str]]:
    rows = []
    for w in workloads:
        o, p = w.octavo(), w.best_peer()
        rows.append([w.name, fmt_value(o.value, w.unit) if o else "n/a",
                     f"{p.tool} {fmt_value(p.value, w.unit)}" if p else "n/a", fmt_ratio(w.ratio())])
    return rows


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(headers, widths, strict=False))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(f"{str(c):<{w}}" for c, w in zip(r, widths, strict=False)))
    sys.stdout.flush()


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out) + "\n"


def workloads_markdown(workloads: list[Workload], tools: list[str] | None = None) -> str:
    """One row per workload: each main tool's number (its first entry), then the ratio.

    The fastest peer is in bold; variants not in ``tools`` appear in details_markdown.
    """
    if tools is None:
        tools = []
        for w in workloads:
            for e in w.entries:
                if e.tool not in tools:
                    tools.append(e.tool)
    headers = ["workload"] + tools + ["octavo / fastest peer"]
    rows = []
    for w in workloads:
        bp = w.best_peer()
        cells = [w.name]
        for t in tools:
            e = next((x for x in w.entries if x.tool == t), None)
            if e is None:
                cells.append("—")
                continue
            s = fmt_value(e.value, w.unit)
            if bp is not None and e is bp:
                s = f"**{s}**"
            if not e.peer and e.tool != "octavo":
                s += " (not ranked)"
            cells.append(s)
        r = w.ratio()
        cells.append(fmt_ratio(r) + ("" if bp is None or bp.tool in tools else f" (vs {bp.tool})"))
        rows.append(cells)
    return markdown_table(headers, rows)


def details_markdown(workloads: list[Workload]) -> str:
    rows = []
    for w in workloads:
        o = w.octavo()
        for e in w.entries:
            rel = "" if (e is o or not o or e.value <= 0) else f"{o.value / e.value:.2f}"
            rows.append([w.name, e.tool + ("" if e.peer or e.tool == "octavo" else " (not ranked)"),
                         fmt_value(e.value, w.unit), rel, e.note])
    return markdown_table(["workload", "tool", "value", "octavo / this", "how"], rows)


def machine_description() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    cores = os.cpu_count()
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        mem = "unknown RAM"
    try:
        load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = ""
    return f"{model}, {cores} cores, {mem}, Linux {platform.release()}, Python {platform.python_version()}{load}"


def versions() -> dict[str, str]:
    out = {}
    for m in ("octavo", "pyarrow", "polars", "pandas", "tables", "numpy"):
        try:
            mod = __import__(m)
            out[m] = getattr(mod, "__version__", "?")
            if m == "octavo":  # the build under test: when its extension was installed
                import datetime
                import importlib

                ext = getattr(importlib.import_module("octavo._octavo"), "__file__", None)
                if ext:
                    ts = datetime.datetime.fromtimestamp(os.path.getmtime(ext)).strftime("%Y-%m-%d %H:%M")
                    out[m] += f" (extension built {ts})"
        except ImportError:
            out[m] = "missing"
    return out


def dir_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total
