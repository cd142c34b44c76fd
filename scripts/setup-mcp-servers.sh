#!/usr/bin/env bash
# Creates .venv/ with the real MCP servers the tests and examples use (from PyPI):
# mcp-server-time and mcp-server-git, and the official Python SDK `mcp` (2.x, with
# `mcp.server.mcpserver`) that the test fixtures' own servers are written with; and
# mcp-server-sqlite (for `mcpr bench agents`), which needs the 1.x SDK and so lives in a
# venv of its own (.venv/sqlite) with its command linked into .venv/bin.
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
if [ ! -x .venv/sqlite/bin/python ]; then
  "$python" -m venv .venv/sqlite
fi
if ! .venv/sqlite/bin/python -c 'import mcp_server_sqlite' 2>/dev/null; then
  .venv/sqlite/bin/pip install --quiet --disable-pip-version-check mcp-server-sqlite 'mcp<2'
fi
ln -sf ../sqlite/bin/mcp-server-sqlite .venv/bin/mcp-server-sqlite
.venv/bin/mcp-server-sqlite --help >/dev/null
.venv/bin/mcp-server-time --help >/dev/null
.venv/bin/mcp-server-git --help >/dev/null
echo "MCP servers ready in .venv/bin: mcp-server-time, mcp-server-git, mcp-server-sqlite (and the mcp SDK for test servers)"
