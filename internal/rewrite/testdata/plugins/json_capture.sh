#!/usr/bin/env bash
# JSON rewrite plugin that saves its input to the file $1 and changes nothing.
set -euo pipefail
cat >"$1"
echo '{"retval": 0, "changed": false}'
