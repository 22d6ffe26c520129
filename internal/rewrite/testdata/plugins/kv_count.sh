#!/usr/bin/env bash
# KVGroup rewrite plugin that changes nothing and reports what it was shown: the
# number of resources and their actions, in order.
set -euo pipefail
input=$(cat)
actions=$(awk '/"action" = "/ { split($0, a, "\""); printf "%s%s", sep, a[4]; sep = "," }' <<<"$input")
n=$(grep -c '"resource" "' <<<"$input" || true)
printf '"" "" = { "retval" = "0" "changed" = "false" "infomsg" = "saw %s resources: %s" }\n' "$n" "$actions"
