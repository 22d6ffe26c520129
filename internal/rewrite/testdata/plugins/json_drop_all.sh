#!/usr/bin/env bash
# JSON rewrite plugin: returns no resources with retainResources false, so every
# operation is removed, except the mandatory ones. Uses the lenient spellings: retval
# as a string, infomsg as a single string, booleans as strings.
cat >/dev/null
cat <<'EOF'
{"retval": "0", "infomsg": "dropping everything", "changed": "true",
 "retainResources": "false", "request": {"resources": []}}
EOF
