#!/usr/bin/env bash
# KVGroup rewrite plugin that asks to be rerun. $1 is a counter file (the number of
# runs so far), $2 the mode:
#   true         rerun = true, plan unchanged (changed = false)
#   auto-once    rerun = auto, adds the same resource every run: only the first run
#                changes the plan
#   auto-always  rerun = auto, adds a resource whose attr changes every run
set -euo pipefail
cat >/dev/null
n=$(( $(cat "$1" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$1"
case $2 in
true)
  printf '"" "" = { "retval" = "0" "changed" = "false" "rerun" = "true" "infomsg" = "run %s" }\n' "$n"
  ;;
auto-once)
  printf '"" "" = { "retval" = "0" "rerun" = "auto" "retainResources" = "true" "infomsg" = "run %s"
  "resource" "" = { "kind" = "securechange" "action" = "comment" } }\n' "$n"
  ;;
auto-always)
  printf '"" "" = { "retval" = "0" "rerun" = "auto" "retainResources" = "true" "infomsg" = "run %s"
  "resource" "" = { "kind" = "securechange" "action" = "comment" "attr" "" = { "run" = "%s" } } }\n' "$n" "$n"
  ;;
esac
