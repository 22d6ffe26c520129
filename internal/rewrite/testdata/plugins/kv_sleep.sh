#!/usr/bin/env bash
# KVGroup rewrite plugin that never answers: it starts a child that holds the FIFO $1
# open for writing, then sleeps. Killing the plugin's process group must end both.
( exec sleep 300 ) >"$1" &
exec sleep 300
