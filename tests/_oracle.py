"""Numbers computed by SQL straight from a DuckDB store, independent of crmkit's code (test oracle)."""

from __future__ import annotations

import math
from pathlib import Path


def sql_kpis(store: Path, region=None, start=None, end=None) -> dict:
    """Tile numbers straight from the store by SQL (end date = whole day)."""
    import duckdb

    where, params = ["TRUE"], []
    if region is not None:
        where.append("customer_id IN (SELECT customer_id FROM customers WHERE region = ?)")
        params.append(region)
    if start is not None:
        where.append("ordered_at >= CAST(? AS TIMESTAMP)")
        params.append(start)
    if end is not None:
        where.append("ordered_at < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY")
        params.append(end)
    con = duckdb.connect(str(store), read_only=True)
    try:
        active, orders, revenue = con.execute(
            "SELECT count(DISTINCT customer_id), count(DISTINCT order_id), coalesce(sum(amount), 0) "
            f"FROM transactions WHERE {' AND '.join(where)}",
            params,
        ).fetchone()
    finally:
        con.close()
    return {"active_customers": active, "orders": orders, "revenue": float(revenue),
            "avg_order_value": revenue / orders if orders else math.nan}
