#!/usr/bin/env bash
# KVGroup rewrite plugin that says changed = false. It returns no resources and no
# retainResources, which would remove every operation if the request were applied.
cat >/dev/null
echo '"" "" = { "retval" = "0" "changed" = "false" "infomsg" = "nothing to do" }'
