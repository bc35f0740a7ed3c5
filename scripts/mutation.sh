#!/usr/bin/env bash
# Mutation score of the code that guards users (docs/testing.md). Not part of CI.
#
#   bash scripts/mutation.sh [--fresh] [--diffs] [MODULE...]
#
# MODULE is one of `python scripts/mutation.py modules` (default: all of them); while writing tests,
# run one module at a time. mutmut 3 mutates the modules' functions, records which tests call each
# function, and runs only those tests against each of its mutants (fastest first, stopping at the
# first failure). It runs in a copy of the checkout ($MUTATION_WORKDIR), under `nice -n 19`, with
# $MUTATION_CHILDREN (default 2) mutants at a time. --fresh throws away the copy and mutmut's
# caches (which test covers which function), as the figures in docs/testing.md were made;
# --diffs shows each survivor's change. Exit status 1 when a module scores under 90 %.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
children=${MUTATION_CHILDREN:-2}
workdir=${MUTATION_WORKDIR:-${TMPDIR:-/tmp}/lynn-mcp-mutation-$(printf %s "$repo" | sha256sum | cut -c1-12)}
mutmut_version="3.8.1"

fresh=0
score_args=()
modules=()
for arg in "$@"; do
  case $arg in
    --fresh) fresh=1 ;;
    --diffs) score_args+=(--diffs) ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) modules+=("$arg") ;;
  esac
done

# Not in the test extra: CI never runs this, and mutmut brings a terminal UI along.
if ! "$python" -c "import mutmut, sys; sys.exit(mutmut.__version__ != '$mutmut_version')" 2>/dev/null; then
  "$python" -m pip install --quiet "mutmut==$mutmut_version"
fi
mutmut=$(dirname "$python")/mutmut

patterns=$("$python" "$repo/scripts/mutation.py" globs "${modules[@]}") # exits on an unknown module
mapfile -t globs <<<"$patterns"
# Exits unless the work directory is absent, empty or one this script made (never rm -rf a home).
"$python" "$repo/scripts/mutation.py" claim "$repo" "$workdir"
if [ "$fresh" = 1 ]; then rm -rf "$workdir"; fi
"$python" "$repo/scripts/mutation.py" sync "$repo" "$workdir"

started=$(date +%s)
echo "mutation run in $workdir (log: $workdir/mutmut.log), ${#globs[@]} pattern(s), $children at a time"
cd "$workdir"
# mutmut redraws one status line; the log keeps everything, the terminal its last lines.
if ! nice -n 19 "$mutmut" run --max-children "$children" "${globs[@]}" >"$workdir/mutmut.log" 2>&1; then
  tail -n 40 "$workdir/mutmut.log" | tr '\r' '\n' | tail -n 40
  echo "mutmut failed (log: $workdir/mutmut.log)" >&2
  exit 1
fi
echo "took $(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s on $(date -u +%Y-%m-%d)"
"$python" "$repo/scripts/mutation.py" score "$workdir" "${score_args[@]}" "${modules[@]}"
