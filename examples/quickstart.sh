#!/usr/bin/env bash
# Set up mcpr on this machine and run it on defaults that need no account or key:
# installs bubblewrap when missing (for the namespaces sandbox), builds the release binary,
# reports what the machine offers, and runs the example cells in a sandboxed session.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null; then
  echo "== installing bubblewrap (the namespaces sandbox)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap
  else
    echo "   could not install bubblewrap; mcpr will run with --isolation none" >&2
  fi
fi

echo "== building mcpr"
cargo build --release --quiet
mcpr=target/release/mcpr

echo "== mcpr doctor"
"$mcpr" doctor

echo "== mcpr exec @examples/hello.py 'summary'"
"$mcpr" exec @examples/hello.py 'summary'

echo "== MCP tools: the demo server and, when set up, mcp-server-time and mcp-server-git"
bash scripts/setup-mcp-servers.sh || echo "   (could not install the PyPI servers; the demo server still works)"
"$mcpr" exec --mcp-config examples/mcp.json 'import tools; print(tools.search("weather", limit=1))' 'from tools.demo import get_weather; [get_weather(city=c)["temperature"] for c in ("Paris", "Oslo")]'

echo "== a recorded session: state outlives the process (rebuilt from .replay/, no call repeated)"
session="quickstart-$(date +%Y%m%d-%H%M%S)"
"$mcpr" exec --session "$session" 'x = 41'
"$mcpr" exec --session "$session" 'x + 1'
"$mcpr" replay "$session"

echo "== an agent step (scripted model, no key needed) whose code becomes a skill in skills/"
"$mcpr" run --llm script:examples/compare-weather.txt --mcp-config examples/mcp.json \
  "Compare the temperature in Paris and Oslo"
"$mcpr" skills list

# In a terminal, end in the console on the session recorded above, with the demo server
# and the scripted model; without one (CI, a pipe) stay headless.
if [ -t 0 ] && [ -t 1 ]; then
  echo "== the console: session $session, the demo tools, a scripted model (type a task or press ? for keys; q quits)"
  exec "$mcpr" tui --session "$session" --mcp-config examples/mcp.json --llm script:examples/compare-weather.txt
else
  echo "== not a terminal: the console was not opened (mcpr tui --session $session --mcp-config examples/mcp.json)"
fi
