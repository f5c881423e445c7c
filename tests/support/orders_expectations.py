"""What the orders test API (tests/apps/orders_api.py) must give: the minimal sequence of each planted
bug by checker, and a snapshot of its PostgreSQL database read through a separate connection."""

from __future__ import annotations

import psycopg

# checker -> the minimal sequence (template ids) that exposes the planted bug
EXPECTED = {
    "server-error": ["POST /orders", "POST /orders/{order_id}/cancel", "POST /orders/{order_id}/ship"],
    "shape": ["POST /orders", "POST /orders/{order_id}/cancel", "GET /orders/{order_id}"],
    "use-after-delete": ["POST /orders", "DELETE /orders/{order_id}", "GET /orders/{order_id}"],
    "deleted-still-listed": ["POST /orders", "DELETE /orders/{order_id}", "GET /orders"],
    "repeated-success": ["POST /orders", "POST /orders/{order_id}/ship", "POST /orders/{order_id}/ship"],
    "access-after-revoke": ["POST /login", "DELETE /admins/{admin_id}", "PUT /settings"],
    "user": ["POST /orders", "POST /orders/{order_id}/cancel", "GET /orders/{order_id}"],
    "sql": ["POST /orders", "POST /orders/{order_id}/ship", "POST /orders/{order_id}/ship"],
}


def snapshot(url: str) -> dict[str, list]:
    """Every user table's rows and the sequences' positions, read through a separate connection."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
        out = {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
        for (seq,) in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall():
            out[f"seq:{seq}"] = conn.execute(f'SELECT last_value, is_called FROM "{seq}"').fetchall()
        out["schemas"] = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
        out["triggers"] = conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall()
        return out
