package rewrite

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/triggerflow/triggerflow/internal/rewrite/kvgroup"
)

// The KVGroup wire form of the protocol; the format is in the package documentation.

// encodeKVGroupRequest writes a plugin's input as a `# KVGROUP-V1.1` document.
func encodeKVGroupRequest(q *pluginRequest) ([]byte, error) {
	top := &kvgroup.Group{}
	put(top, "module", "triggerflow")
	put(top, "plugin", q.Plugin)
	put(top, "firstrun", strconv.FormatBool(q.FirstRun))
	put(top, "run", strconv.Itoa(q.Run))

	trig := sub(top, "trigger", "")
	for _, x := range q.triggerPairs() {
		put(trig, x.k, x.v)
	}
	for _, s := range q.triggerStages() {
		g := sub(trig, s.key, "")
		put(g, "id", s.stage.ID)
		put(g, "name", s.stage.Name)
	}

	ticket := sub(top, "ticket", "")
	for _, x := range q.ticketPairs() {
		put(ticket, x.k, x.v)
	}
	fields := sub(ticket, "fields", "")
	for _, x := range q.ticketFields() {
		put(fields, x.k, x.v)
	}

	request := sub(top, "request", "")
	put(request, "id", q.Plan.ID)
	put(request, "workflow", q.Plan.Workflow)
	for _, op := range q.Plan.Operations {
		res := sub(request, "resource", op.ID)
		put(res, "kind", string(op.Kind))
		put(res, "target", op.Target)
		put(res, "route", op.Route)
		put(res, "action", op.Action)
		put(res, "mandatory", strconv.FormatBool(op.Mandatory))
		put(res, "group", op.Group)
		put(res, "spec", string(compactJSON(op.Spec)))
		attrs := sub(res, "attr", "")
		for _, k := range slices.Sorted(maps.Keys(op.Attrs)) {
			put(attrs, k, op.Attrs[k])
		}
	}

	doc := kvgroup.Document{Version: "1.1", Root: kvgroup.Group{Entries: []kvgroup.Entry{{Key: "", Name: "", Group: top}}}}
	return doc.Marshal()
}

// put adds a pair; text that is not valid UTF-8 (which KVGroup cannot carry) has its
// bad bytes replaced by U+FFFD.
func put(g *kvgroup.Group, k, v string) {
	g.Add(kvgroup.Entry{Key: validUTF8(k), Value: validUTF8(v)})
}

// sub adds an empty group and returns it.
func sub(g *kvgroup.Group, k, name string) *kvgroup.Group {
	n := &kvgroup.Group{}
	g.Add(kvgroup.Entry{Key: validUTF8(k), Name: validUTF8(name), Group: n})
	return n
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// compactJSON is raw without insignificant white space (raw itself if it is not JSON).
func compactJSON(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// decodeKVGroupReply reads a plugin's KVGroup output. The error is transient when the
// output cannot be read (reply.ok false), permanent when it breaks the contract.
func decodeKVGroupReply(b []byte) (reply, error) {
	rep := reply{Changed: true, Rerun: "false"}
	doc, err := kvgroup.Parse(b)
	if err != nil {
		return rep, unreadable("%v", err)
	}
	top := doc.Root.Sub("")
	if top == nil {
		if _, ok := doc.Root.Get("retval"); !ok {
			return rep, unreadable(`no "" "" = { … } group`)
		}
		top = &doc.Root // tolerated: the entries without their wrapper
	}
	if err := kvStatus(top, &rep); err != nil {
		return rep, err
	}
	rep.ok = true
	if err := kvFlags(top, &rep); err != nil {
		return rep, err
	}
	if rep.GroupApproval, err = kvGroupApproval(top); err != nil {
		return rep, err
	}
	rep.Resources, err = kvResources(top)
	return rep, err
}

// kvStatus reads retval (mandatory), errmsg and infomsg.
func kvStatus(top *kvgroup.Group, rep *reply) error {
	rv, ok := top.Get("retval")
	if !ok {
		return unreadable(`no "retval" (it is mandatory)`)
	}
	var err error
	if rep.Retval, err = strconv.Atoi(strings.TrimSpace(rv)); err != nil {
		return invalid("retval %q is not an integer", rv)
	}
	rep.Errmsg = strings.Join(kvMessages(top, "errmsg"), "; ")
	rep.Infomsg = kvMessages(top, "infomsg")
	return nil
}

// kvMessages are the non-empty values of key, trimmed, in order.
func kvMessages(top *kvgroup.Group, key string) []string {
	var out []string
	for _, e := range top.All(key) {
		if v := strings.TrimSpace(e.Value); e.Group == nil && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// kvFlags reads changed, rerun and retainResources.
func kvFlags(top *kvgroup.Group, rep *reply) error {
	for _, key := range []string{"changed", "rerun", "retainResources"} {
		for _, e := range top.All(key) {
			if e.Group != nil {
				return invalid("%q is a group, want a value", key)
			}
		}
	}
	if v, ok := top.Get("changed"); ok {
		if rep.Changed, ok = parseBool(v); !ok {
			return invalid("changed %q is not true or false", v)
		}
	}
	if v, ok := top.Get("rerun"); ok {
		if rep.Rerun, ok = parseRerun(v); !ok {
			return invalid("rerun %q is not true, false or auto", v)
		}
	}
	if v, ok := top.Get("retainResources"); ok {
		if rep.RetainResources, ok = parseBool(v); !ok {
			return invalid("retainResources %q is not true or false", v)
		}
	}
	return nil
}

// kvGroupApproval reads the top-level `"groupApproval" "" = { … }` groups.
func kvGroupApproval(top *kvgroup.Group) ([]approvalGroup, error) {
	var out []approvalGroup
	for _, e := range top.All("groupApproval") {
		if e.Group == nil {
			return nil, invalid(`top-level "groupApproval" must be a group: "groupApproval" "" = { "group" "<name>" = { "resource" = "<id>" … } }`)
		}
		for _, g := range e.Group.Entries {
			if g.Key != "group" || g.Group == nil {
				return nil, invalid(`groupApproval holds %q, want "group" "<name>" = { "resource" = "<id>" … }`, g.Key)
			}
			ag := approvalGroup{Group: g.Name}
			for _, r := range g.Group.Entries {
				if r.Key != "resource" || r.Group != nil {
					return nil, invalid(`groupApproval group %q holds %q, want "resource" = "<id>"`, g.Name, r.Key)
				}
				ag.Resources = append(ag.Resources, r.Value)
			}
			out = append(out, ag)
		}
	}
	return out, nil
}

// kvResources reads the returned resources: the seed puts them in the top group, the
// contract in "request"; both are read, top group first.
func kvResources(top *kvgroup.Group) ([]resourceReply, error) {
	resources := top.All("resource")
	for _, e := range top.All("request") {
		if e.Group == nil {
			return nil, invalid(`"request" must be a group`)
		}
		resources = append(resources, e.Group.All("resource")...)
	}
	var out []resourceReply
	for _, e := range resources {
		res, err := kvResource(e)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// kvResource reads one `"resource" "<id>" = { … }` group.
func kvResource(e kvgroup.Entry) (resourceReply, error) {
	res := resourceReply{ID: strings.TrimSpace(e.Name)}
	if e.Group == nil {
		return res, invalid(`"resource" = %q must be a group: "resource" "<id>" = { … }`, e.Value)
	}
	str := func(v string) *string { return &v }
	for _, x := range e.Group.Entries {
		if x.Key == "attr" {
			if x.Group == nil {
				return res, invalid("resource %q: attr must be a group of values", res.ID)
			}
			res.AttrsSet = true
			res.Attrs = map[string]string{}
			for _, a := range x.Group.Entries {
				if a.Group != nil {
					return res, invalid("resource %q: attr %q is a group, want a value", res.ID, a.Key)
				}
				res.Attrs[a.Key] = a.Value
			}
			continue
		}
		if x.Group != nil {
			continue // unknown nested data: ignored, like unknown keys
		}
		v := x.Value
		switch x.Key {
		case "kind":
			res.Kind = str(strings.TrimSpace(v))
		case "target":
			res.Target = str(strings.TrimSpace(v))
		case "action":
			res.Action = str(strings.TrimSpace(v))
		case "group", "groupApproval":
			res.Group = str(strings.TrimSpace(v))
		case "autoselect":
			a := strings.ToLower(strings.TrimSpace(v))
			if !validAutoselect(a) {
				return res, invalid("resource %q: autoselect %q is not true, mandatory, none or false", res.ID, v)
			}
			res.Autoselect = &a
		case "mandatory", "remove", "removed":
			b, ok := parseBool(v)
			if !ok {
				return res, invalid("resource %q: %s %q is not true or false", res.ID, x.Key, v)
			}
			if x.Key == "mandatory" {
				res.Mandatory = &b
			} else {
				res.Remove = res.Remove || b
			}
		case "spec":
			spec, err := parseSpec([]byte(v))
			if err != nil {
				return res, invalid("resource %q: %v", res.ID, err)
			}
			res.SpecSet, res.Spec = true, spec
		}
	}
	return res, nil
}
