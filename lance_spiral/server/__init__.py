"""The service face of lance-spiral ([server] extra): REST API, dashboard and MCP tools.

``lance-spiral serve --db DIR`` runs the REST app (:func:`lance_spiral.server.app.create_app`)
with the dashboard at ``/`` and the MCP tools at ``/mcp``; ``lance-spiral mcp --db DIR`` runs
the MCP tools alone (stdio or streamable HTTP). Both work on a
:class:`~lance_spiral.server.service.Service` over a
:class:`~lance_spiral.server.catalog.Catalog` of compressed tables. Importing this package does
not import FastAPI or the MCP SDK; the modules that need them do.
"""

from lance_spiral.server.catalog import Catalog
from lance_spiral.server.service import Service

__all__ = ["Catalog", "Service"]
