#!/usr/bin/env bash
# KVGroup rewrite plugin: puts the operations whose action is $1 and $2 in approval
# group "cab" (top-level groupApproval), with a write-back it adds, named in that list
# by its action. It also adds an audit email in another group, set the seed's way: the
# resource's own "groupApproval" key.
set -euo pipefail
input=$(cat)
ids=$(awk -v a1="$1" -v a2="$2" '
  /"resource" "/ { split($0, a, "\""); id = a[4] }
  /"action" = "/ { split($0, a, "\""); if (a[4] == a1 || a[4] == a2) print id }
' <<<"$input")
echo '"" "" = {'
echo '  "retval" = "0"'
echo '  "retainResources" = "true"'
echo '  "groupApproval" "" = {'
echo '    "group" "cab" = {'
for id in $ids; do
  echo "      \"resource\" = \"$id\""
done
echo '      "resource" = "writeback"'
echo '    }'
echo '  }'
echo '  "resource" "" = {'
echo '    "kind" = "securechange"'
echo '    "action" = "writeback"'
echo '  }'
echo '  "resource" "" = {'
echo '    "kind" = "email"'
echo '    "action" = "audit"'
echo '    "groupApproval" = "49583745-3242-6364-3453-384850692934"'
echo '  }'
echo '}'
