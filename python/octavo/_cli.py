"""`octavo sql`: the C++ CLI runs ``_cli_sql`` in a child Python (see src/cli/query_cmds.cc).

Kept apart from octavo.query, which the table layer uses: this entry point opens a bundle,
so it sits above octavo.bundle.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa

from .bundle import open as open_bundle
from .errors import OctavoError, QueryError
from .query import sql

_EXIT_CODES = {"NotFoundError": 3, "SchemaError": 4, "CorruptionError": 5, "LockedError": 6}


_READING = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "SET", "VARIABLE_SET", "RELATION", "CALL", "TRANSACTION"})


def _changing_statements(duckdb: Any, query: str) -> list[str]:
    """The kinds of the query's statements that would change data (INSERT, UPDATE, CREATE...)."""
    try:
        kinds = [st.type.name for st in duckdb.connect().extract_statements(query)]
    except duckdb.Error:
        return []  # the query itself reports the syntax error
    return sorted({k for k in kinds if k not in _READING})


def _cli_sql(argv: list[str]) -> int:
    """Runs one SQL query over the bundle at argv[0] and writes the result as an Arrow IPC
    stream on stdout; errors go to stderr as "octavo: error: ..." with the CLI's exit codes."""
    import os
    import sys

    root, query = argv[0], argv[1]

    def fail(msg: str, code: int = 1) -> int:
        sys.stderr.write(f"octavo: error: {msg}\n")
        return code

    try:
        import duckdb
    except ImportError:
        return fail("octavo sql runs on DuckDB, which is not installed for " + sys.executable +
                    ": pip install duckdb")

    try:
        changes = _changing_statements(duckdb, query)
        if changes:
            sys.stderr.write(f"octavo: note: {', '.join(changes)} statements run on a temporary in-memory view "
                             f"of the bundle: nothing they change is kept in {root} (octavo sql reads only; "
                             "change data with the octavo import/append commands or the Python API)\n")
        with open_bundle(root, "r") as b:
            reader = sql(b, query, stream=True)
            if reader is None:  # a statement without a result
                reader = pa.RecordBatchReader.from_batches(pa.schema([]), [])
            out = sys.stdout.buffer
            try:
                with pa.ipc.new_stream(out, reader.schema) as w:
                    for batch in reader:
                        w.write_batch(batch)
                out.flush()
            except OSError as e:  # BrokenPipeError, or pyarrow's wrapping of EPIPE
                import errno
                if isinstance(e, BrokenPipeError) or getattr(e, "errno", None) == errno.EPIPE \
                        or "Broken pipe" in str(e):
                    os._exit(0)  # the CLI stopped reading at its --limit
                raise
    except QueryError as e:
        return fail(f"bundle {root}: {e}")
    except duckdb.Error as e:
        return fail(f"bundle {root}: SQL query failed: {e}")
    except OctavoError as e:
        return fail(str(e), _EXIT_CODES.get(type(e).__name__, 1))
    return 0
