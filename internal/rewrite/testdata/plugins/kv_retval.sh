#!/usr/bin/env bash
# KVGroup rewrite plugin: fails with a non-zero retval and no errmsg.
cat >/dev/null
echo '"" "" = { "retval" = "2" "infomsg" = "" }'
