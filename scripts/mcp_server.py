"""Run the MCP server (stdio; ``--http``; ``--url`` for an API); ``ai-backends-mcp``."""

from ai_backends.mcp.server import main

if __name__ == "__main__":
    main()
