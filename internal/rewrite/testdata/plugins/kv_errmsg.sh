#!/usr/bin/env bash
# KVGroup rewrite plugin: refuses the request with an errmsg (retval 0).
cat >/dev/null
cat <<'EOF'
"" "" = {
  "retval" = "0"
  "infomsg" = "checked the CAB calendar"
  "errmsg" = "change window closed: no changes before Monday"
}
EOF
