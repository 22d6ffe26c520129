#!/usr/bin/env bash
# A plugin that crashes: a message on stderr and exit status 3.
cat >/dev/null
echo 'boom: cannot reach the CMDB' >&2
exit 3
