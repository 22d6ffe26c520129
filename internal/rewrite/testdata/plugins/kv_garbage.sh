#!/usr/bin/env bash
# A plugin that answers something that is not KVGroup, and exits 0.
cat >/dev/null
echo 'Segmentation fault? {{ no idea = what'
