"""A polars LazyFrame over a table (``bundle.scan(path)``, ``table.lazy()``), through polars'
IO-plugin interface: projection, predicate and row-limit pushdown into octavo's C++ scanner.

The parts of a polars predicate that octavo's condition language says exactly the same way
(comparisons of a non-float column with a literal, IS NULL, and/or) are translated into a
condition that ``Table.where`` prunes parts and row groups with; polars then applies the whole
predicate to every batch, so a translation only has to select a superset of the rows.
Floats are never translated: polars orders NaN above every number, octavo's comparisons are
false for NaN.
"""
from __future__ import annotations

import json

import pyarrow as pa

_OPS = {"Eq": "==", "NotEq": "!=", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">="}


def _literal(node) -> str | None:
    lit = node.get("Literal") if isinstance(node, dict) else None
    if not isinstance(lit, dict):
        return None
    inner = lit.get("Dyn") or lit.get("Scalar")
    if not isinstance(inner, dict) or len(inner) != 1:
        return None
    kind, value = next(iter(inner.items()))
    if isinstance(value, dict) and "value" in value:  # some versions wrap the value
        value = value["value"]
    if kind == "String" and isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if kind == "Boolean" and isinstance(value, bool):
        return "True" if value else "False"
    if kind in ("Int", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64") and \
            isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _column(node, schema: pa.Schema) -> str | None:
    name = node.get("Column") if isinstance(node, dict) else None
    if not isinstance(name, str) or name not in schema.names or "`" in name:
        return None
    t = schema.field(name).type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_boolean(t)):
        return None  # floats (NaN order differs), timestamps (literal forms differ), ...
    return f"`{name}`"


def _translate(node, schema: pa.Schema) -> str | None:
    if not isinstance(node, dict):
        return None
    if "BinaryExpr" in node:
        b = node["BinaryExpr"]
        op = b.get("op")
        if op in ("And", "LogicalAnd"):
            left, right = _translate(b.get("left"), schema), _translate(b.get("right"), schema)
            if left and right:
                return f"({left}) & ({right})"
            return left or right  # one side alone still selects a superset
        if op in ("Or", "LogicalOr"):
            left, right = _translate(b.get("left"), schema), _translate(b.get("right"), schema)
            return f"({left}) | ({right})" if left and right else None
        if op in _OPS:
            col, lit = _column(b.get("left"), schema), _literal(b.get("right"))
            sym = _OPS[op]
            if not (col and lit):
                col, lit = _column(b.get("right"), schema), _literal(b.get("left"))
                sym = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(sym, sym)
            return f"{col} {sym} {lit}" if col and lit else None
        return None
    if "Function" in node:
        f = node["Function"]
        fn = f.get("function")
        inputs = f.get("input") or []
        if fn == {"Boolean": "IsNull"} and len(inputs) == 1:
            col = _column(inputs[0], schema)
            return f"{col} IS NULL" if col else None
        if fn == {"Boolean": "IsNotNull"} and len(inputs) == 1:
            col = _column(inputs[0], schema)
            return f"{col} IS NOT NULL" if col else None
    return None


def polars_to_condition(predicate, schema: pa.Schema) -> str | None:
    """An octavo condition selecting a superset of the rows `predicate` selects, or None."""
    if predicate is None:
        return None
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
    except Exception:  # noqa: BLE001 (an expression polars cannot serialise: polars filters alone)
        return None
    return _translate(tree, schema)


def lazy_frame(table):
    """The LazyFrame of `table` (an octavo.Table) at its bundle handle's commit."""
    import polars as pl
    from polars.io.plugins import register_io_source

    arrow_schema = table.schema
    pl_schema = pl.DataFrame(arrow_schema.empty_table()).schema

    def source(with_columns, predicate, n_rows, batch_size):
        cols = list(with_columns) if with_columns is not None else None
        read = cols
        if predicate is not None and cols is not None:
            read = cols + [c for c in predicate.meta.root_names() if c not in cols]
        cond = polars_to_condition(predicate, arrow_schema)
        chunk = int(batch_size or 65536)
        if cond is not None:
            batches = table.where(cond, columns=read, chunk_size=chunk, return_type="arrow")
        else:
            batches = table.iter_batches(chunk, read, return_type="arrow")
        produced = 0
        for batch in batches:
            df = pl.DataFrame(batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch]))
            if predicate is not None:
                df = df.filter(predicate)
            if cols is not None:
                df = df.select(cols)
            if n_rows is not None:
                df = df.head(n_rows - produced)
            produced += df.height
            if df.height:
                yield df
            if n_rows is not None and produced >= n_rows:
                return

    return register_io_source(source, schema=pl_schema, explain_name="octavo",
                              explain_detail=table.path)
