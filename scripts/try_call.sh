#!/usr/bin/env bash
# Plays Twilio against a running frontdesk (signature checks off): a whole
# inbound call with curl, no phone needed.
#   scripts/try_call.sh [SERVER_URL]      (default http://localhost:8000)
# The transcript is read with the API token: API_TOKEN, else the file
# api-token in DATA_DIR (default ./data).
set -euo pipefail
server=${1:-http://localhost:8000}
token=${API_TOKEN:-$(cat "${DATA_DIR:-./data}/api-token")}
sid="CA$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

post() {
  local path=$1; shift
  echo "--> POST $path $*"
  curl -sS -X POST "$server$path" "$@"
  echo; echo
}

post /voice/inbound -d "CallSid=$sid" --data-urlencode "From=+15551234567" --data-urlencode "To=+15557654321"
post /voice/process-speech -d "CallSid=$sid" --data-urlencode "SpeechResult=What time is it?" -d Confidence=0.93
post /voice/process-speech -d "CallSid=$sid" --data-urlencode "SpeechResult=What day is it today?" -d Confidence=0.91
post /voice/process-speech -d "CallSid=$sid"
post /voice/process-speech -d "CallSid=$sid" --data-urlencode "SpeechResult=Thanks, that's all. Goodbye!"
post /voice/status -d "CallSid=$sid" -d CallStatus=completed -d CallDuration=42 -d SequenceNumber=3 -o /dev/null -w "status callback: %{http_code}"
echo "--> GET /session/$sid"
curl -sS -H "Authorization: Bearer $token" "$server/session/$sid"
echo
