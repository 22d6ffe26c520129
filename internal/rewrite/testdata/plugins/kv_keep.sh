#!/usr/bin/env bash
# KVGroup rewrite plugin: returns only the operations whose action is named in the
# arguments (unchanged), with "retainResources" set to $1: true, false, or absent
# (the key is left out).
set -euo pipefail
retain=$1
shift
input=$(cat)
echo '"" "" = {'
echo '  "retval" = "0"'
if [ "$retain" != absent ]; then
  echo "  \"retainResources\" = \"$retain\""
fi
echo '  "request" "" = {'
awk '
  BEGIN { for (i = 1; i < ARGC; i++) want[ARGV[i]] = 1; ARGC = 1 }
  /"resource" "/ { split($0, a, "\""); id = a[4] }
  /"action" = "/ { split($0, a, "\""); if (a[4] in want) print "    \"resource\" \"" id "\" = {}" }
' "$@" <<<"$input"
echo '  }'
echo '}'
