#!/usr/bin/env bash
# Places a call through a running frontdesk with curl.
#   scripts/make_call.sh +15551234567 ["first thing to say"] [--machine-detection]
# SERVER (default http://localhost:8000) selects the frontdesk to ask; the API
# token is API_TOKEN, else the file api-token in DATA_DIR (default ./data).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 +15551234567 [message] [--machine-detection]" >&2
  exit 2
fi
to=$1
message=${2:-}
amd=false
[ "${3:-}" = "--machine-detection" ] || [ "${2:-}" = "--machine-detection" ] && amd=true
[ "$message" = "--machine-detection" ] && message=""
server=${SERVER:-http://localhost:8000}
token=${API_TOKEN:-$(cat "${DATA_DIR:-./data}/api-token")}
body=$(python3 -c 'import json,sys; print(json.dumps({k: v for k, v in {"to_number": sys.argv[1], "initial_message": sys.argv[2] or None, "machine_detection": sys.argv[3] == "true"}.items() if v is not None}))' "$to" "$message" "$amd")
curl -sS -X POST "$server/make-call" -H "Authorization: Bearer $token" \
     -H 'Content-Type: application/json' -d "$body"
echo
