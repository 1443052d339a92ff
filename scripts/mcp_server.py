"""Run the MCP server: stdio by default, ``--http`` for streamable HTTP, ``--url`` for an API."""

import _path  # noqa: F401  (puts the repository root on sys.path)

from ai_backends.mcp.server import main

if __name__ == "__main__":
    main()
