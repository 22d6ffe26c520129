#!/usr/bin/env bash
# KVGroup rewrite plugin: removes the operations whose action is named in the
# arguments ("remove" = "true"), keeping the others (retainResources true).
set -euo pipefail
input=$(cat)
echo '"" "" = {'
echo '  "retval" = "0"'
echo '  "retainResources" = "true"'
echo '  "request" "" = {'
# The input is canonical KVGroup: each resource's id is on its "resource" line, its
# action on an "action" line inside it.
awk '
  BEGIN { for (i = 1; i < ARGC; i++) want[ARGV[i]] = 1; ARGC = 1 }
  /"resource" "/ { split($0, a, "\""); id = a[4] }
  /"action" = "/ { split($0, a, "\""); if (a[4] in want) print "    \"resource\" \"" id "\" = { \"remove\" = \"true\" }" }
' "$@" <<<"$input"
echo '  }'
echo '}'
