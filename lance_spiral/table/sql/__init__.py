"""SQL for Lance filters: dict filters compiled to SQL, escaped literals, JSON predicates."""

from lance_spiral.table.sql.filters import check_sql, compile_filter, filter_sql
from lance_spiral.table.sql.literal import lance_error, quote_ident, sql_in, sql_literal

__all__ = ["check_sql", "compile_filter", "filter_sql", "lance_error", "quote_ident", "sql_in",
           "sql_literal"]
