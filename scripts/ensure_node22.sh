#!/usr/bin/env bash
# Make Node 22 and the official MCP Inspector CLI available for tests/test_inspector.py.
#
# Both come from the npm registry as ordinary packages (`node@22` ships the Node binary), installed
# into one directory outside the repository, so this needs nothing but npm (any Node version).
#   scripts/ensure_node22.sh            # installs once, then only checks; prints the bin directory
#   LYNN_NODE22_DIR=/some/dir scripts/ensure_node22.sh
# The test finds the same directory (LYNN_NODE22_DIR, default below) and skips, saying why, when
# Node >= 22.19 (the Inspector's minimum) is in neither place.
set -euo pipefail

NODE_SPEC="node@22"
INSPECTOR_SPEC="@modelcontextprotocol/inspector@2.12.0"
DIR="${LYNN_NODE22_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lynn-mcp/node22}"
BIN="$DIR/node_modules/.bin"

ready() {
  [[ -x "$BIN/node" && -x "$BIN/mcp-inspector" ]] || return 1
  "$BIN/node" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)'
}

if ! ready; then
  mkdir -p "$DIR"
  echo "ensure_node22: installing $NODE_SPEC and $INSPECTOR_SPEC into $DIR" >&2
  npm install --prefix "$DIR" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "$NODE_SPEC" "$INSPECTOR_SPEC" >&2
  ready || { echo "ensure_node22: Node >= 22.19 or the Inspector is still missing in $BIN" >&2; exit 1; }
fi
echo "ensure_node22: $("$BIN/node" --version), inspector $("$BIN/mcp-inspector" --cli --version 2>/dev/null || echo '?')" >&2
echo "$BIN"
