#!/usr/bin/env bash
# Creates .venv/ with the real MCP servers the tests and examples use (from PyPI):
# mcp-server-time and mcp-server-git, and the official Python SDK `mcp` (2.x, with
# `mcp.server.mcpserver`) that the test fixtures' own servers are written with.
# Idempotent; re-run to upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${MCPR_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c 'import mcp_server_time, mcp_server_git, mcp.server.mcpserver' 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check mcp-server-time mcp-server-git 'mcp>=2'
fi
.venv/bin/mcp-server-time --help >/dev/null
.venv/bin/mcp-server-git --help >/dev/null
echo "MCP servers ready in .venv/bin: mcp-server-time, mcp-server-git (and the mcp SDK for test servers)"
