"""The Model Context Protocol server: the service's capabilities as MCP tools."""
