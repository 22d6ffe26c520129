#!/usr/bin/env bash
# KVGroup rewrite plugin: adds a CAB notification email (auto-selected) and keeps
# every other operation (retainResources true).
set -euo pipefail
cat >/dev/null
cat <<'EOF'
# KVGROUP-V1.1
"" "" = {
  "retval" = "0"
  "infomsg" = "added the CAB notification"
  "retainResources" = "true"
  "request" "" = {
    "resource" "" = {
      "kind" = "email"
      "action" = "notify-cab"
      "spec" = "{\"to\": [\"cab@example.com\"], \"subject\": \"Ticket needs CAB\"}"
      "autoselect" = "true"
      "attr" "" = {
        "reason" = "firewall change"
      }
    }
  }
}
EOF
