#!/bin/sh
# Recapture every row of README.md with the real kubectl, against discovery_stub.py (no cluster).
set -e
cd "$(dirname "$0")"
PORT=${PORT:-18777}
python3 discovery_stub.py "$PORT" & STUB=$!
trap 'kill $STUB' EXIT
sleep 1
grep -E '^\| `[^`]+` \| `kubectl [^`]+` \|$' README.md | while IFS='|' read -r _ file cmd _; do
  file=$(echo "$file" | tr -d '` ')
  cmd=$(echo "$cmd" | sed -e 's/^ *`kubectl//' -e 's/` *$//')
  eval "kubectl --server=http://127.0.0.1:$PORT --kubeconfig=/dev/null $cmd" > "$file" 2>&1 || true
done
