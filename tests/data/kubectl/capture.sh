#!/bin/sh
# Recapture every "captured" row of README.md with the real kubectl (no cluster needed).
set -e
cd "$(dirname "$0")"
grep -E '^\| `[^`]+` \| `kubectl [^`]+` \| captured \|$' README.md | while IFS='|' read -r _ file cmd _; do
  file=$(echo "$file" | tr -d '` ')
  cmd=$(echo "$cmd" | sed -e 's/^ *`//' -e 's/` *$//')
  eval "$cmd" > "$file"
done
