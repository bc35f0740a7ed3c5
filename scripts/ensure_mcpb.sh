#!/usr/bin/env bash
# Make the MCP Bundle CLI (`mcpb`, npm package @anthropic-ai/mcpb) available for CI and for
# tests/test_packaging_tools.py, which validate, pack and unpack manifest.json's bundle.
#
# Installed from the npm registry into one directory outside the repository; needs npm and Node 18+
# (the machine's own Node is enough).
#   scripts/ensure_mcpb.sh             # installs once, then only checks; prints the bin directory
#   LYNN_MCPB_DIR=/some/dir scripts/ensure_mcpb.sh
# The tests find the same directory (LYNN_MCPB_DIR, default below) or `mcpb` on PATH, and skip,
# saying why, when neither has it.
set -euo pipefail

MCPB_SPEC="@anthropic-ai/mcpb@2.1.2"
DIR="${LYNN_MCPB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lynn-mcp/mcpb}"
BIN="$DIR/node_modules/.bin"

ready() {
  [[ -x "$BIN/mcpb" ]] && [[ "$("$BIN/mcpb" --version 2>/dev/null)" == "${MCPB_SPEC##*@}" ]]
}

if ! ready; then
  mkdir -p "$DIR"
  echo "ensure_mcpb: installing $MCPB_SPEC into $DIR" >&2
  npm install --prefix "$DIR" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "$MCPB_SPEC" >&2
  ready || { echo "ensure_mcpb: $MCPB_SPEC is still missing in $BIN" >&2; exit 1; }
fi
echo "ensure_mcpb: mcpb $("$BIN/mcpb" --version)" >&2
echo "$BIN"
