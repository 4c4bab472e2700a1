#!/usr/bin/env bash
# Writes to the demo server as a client, through the generic signed webhook.
#
#   examples/demo-client.sh WEBHOOK_URL "message text" [client-id] [name]
#
# WEBHOOK_URL is the address the server printed at startup for the
# "demo-client" source (http://127.0.0.1:8080/webhooks/<id>). The secret is
# DEMO_WEBHOOK_SECRET (default "demo-secret", as in examples/demo.toml).
set -euo pipefail
url=${1:?usage: demo-client.sh WEBHOOK_URL TEXT [CLIENT] [NAME]}
text=${2:?usage: demo-client.sh WEBHOOK_URL TEXT [CLIENT] [NAME]}
client=${3:-visitor-1}
name=${4:-Demo Visitor}
secret=${DEMO_WEBHOOK_SECRET:-demo-secret}
id="demo-$(date +%s%N)"
body=$(printf '{"messages":[{"id":"%s","user":"%s","name":"%s","text":"%s"}]}' "$id" "$client" "$name" "$text")
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.*= *//')
curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$url" \
  -H 'content-type: application/json' \
  -H "X-Chatlines-Timestamp: $ts" \
  -H "X-Chatlines-Signature: sha256=$sig" \
  --data-binary "$body"
