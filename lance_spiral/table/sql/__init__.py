"""SQL for Lance filters: escaped literals, and type-guarded predicates over a JSON column."""

from lance_spiral.table.sql.literal import lance_error, sql_in, sql_literal

__all__ = ["lance_error", "sql_in", "sql_literal"]
