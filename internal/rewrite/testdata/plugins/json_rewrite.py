#!/usr/bin/env python3
"""JSON rewrite plugin.

Reads the plan, reports what it saw (firstrun, run, actions) in infomsg, and returns
every resource (retainResources false) except those with attrs.drop == "true". It
changes the subject of the "notify-cab" email, and adds a SecureChange write-back
("writeback") in approval group "cab" together with "notify-cab".
"""
import json
import sys

req = json.load(sys.stdin)
resources = req["request"]["resources"]
actions = ",".join(r["action"] for r in resources)
out = {
    "retval": 0,
    "infomsg": [
        "firstrun=%s run=%d ticket=%s" % (str(req["firstrun"]).lower(), req["run"], req["ticket"]["id"]),
        "saw " + actions,
    ],
    "retainResources": False,
    "rerun": False,
    "request": {"resources": []},
    "groupApproval": [{"group": "cab", "resources": ["writeback"]}],
}
for r in resources:
    if r["attrs"].get("drop") == "true":
        continue
    if r["action"] == "notify-cab":
        spec = dict(r.get("spec") or {})
        spec["subject"] = "CAB review for ticket " + req["ticket"]["id"]
        r = {"id": r["id"], "spec": spec}
        out["groupApproval"][0]["resources"].append(r["id"])
    else:
        r = {"id": r["id"]}
    out["request"]["resources"].append(r)
out["request"]["resources"].append(
    {"kind": "securechange", "action": "writeback", "spec": {"update_fields": {"CAB": "requested"}}}
)
json.dump(out, sys.stdout)
