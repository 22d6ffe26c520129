package rewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The JSON wire form of the protocol; the format is in the package documentation.

type jsonInput struct {
	Module   string         `json:"module"`
	Plugin   string         `json:"plugin"`
	FirstRun bool           `json:"firstrun"`
	Run      int            `json:"run"`
	Trigger  map[string]any `json:"trigger"`
	Ticket   map[string]any `json:"ticket"`
	Request  jsonRequest    `json:"request"`
}

type jsonRequest struct {
	ID        string              `json:"id"`
	Workflow  string              `json:"workflow"`
	Resources []jsonInputResource `json:"resources"`
}

type jsonInputResource struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Target    string            `json:"target"`
	Route     string            `json:"route"`
	Action    string            `json:"action"`
	Mandatory bool              `json:"mandatory"`
	Group     string            `json:"group"`
	Spec      json.RawMessage   `json:"spec,omitempty"`
	Attrs     map[string]string `json:"attrs"`
}

// encodeJSONRequest writes a plugin's input as JSON.
func encodeJSONRequest(q *pluginRequest) ([]byte, error) {
	in := jsonInput{
		Module: "triggerflow", Plugin: q.Plugin, FirstRun: q.FirstRun, Run: q.Run,
		Trigger: map[string]any{}, Ticket: map[string]any{},
		Request: jsonRequest{ID: q.Plan.ID, Workflow: q.Plan.Workflow, Resources: []jsonInputResource{}},
	}
	for _, x := range q.triggerPairs() {
		in.Trigger[x.k] = x.v
	}
	for _, s := range q.triggerStages() {
		in.Trigger[s.key] = map[string]string{"id": s.stage.ID, "name": s.stage.Name}
	}
	for _, x := range q.ticketPairs() {
		in.Ticket[x.k] = x.v
	}
	in.Ticket["enriched"] = q.Ticket != nil
	fields := map[string]string{}
	for _, x := range q.ticketFields() {
		fields[x.k] = x.v
	}
	in.Ticket["fields"] = fields
	for _, op := range q.Plan.Operations {
		attrs := op.Attrs
		if attrs == nil {
			attrs = map[string]string{}
		}
		in.Request.Resources = append(in.Request.Resources, jsonInputResource{
			ID: op.ID, Kind: string(op.Kind), Target: op.Target, Route: op.Route, Action: op.Action,
			Mandatory: op.Mandatory, Group: op.Group, Spec: op.Spec, Attrs: attrs,
		})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(in); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeJSONReply reads a plugin's JSON output. The error is transient when the output
// cannot be read (reply.ok false), permanent when it breaks the contract.
func decodeJSONReply(b []byte) (reply, error) {
	rep := reply{Changed: true, Rerun: "false"}
	b = bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
	if len(b) == 0 || b[0] != '{' {
		return rep, unreadable("not a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return rep, unreadable("%v", err)
	}
	if err := jsonStatus(top, &rep); err != nil {
		return rep, err
	}
	rep.ok = true
	if err := jsonFlags(top, &rep); err != nil {
		return rep, err
	}
	var err error
	if rep.GroupApproval, err = jsonGroupApproval(top["groupApproval"]); err != nil {
		return rep, err
	}
	rep.Resources, err = jsonResources(top["request"])
	return rep, err
}

// jsonStatus reads retval (mandatory), errmsg and infomsg.
func jsonStatus(top map[string]json.RawMessage, rep *reply) error {
	rv, ok := top["retval"]
	if !ok || isNull(rv) {
		return unreadable(`no "retval" (it is mandatory)`)
	}
	var err error
	if rep.Retval, err = jsonInt(rv); err != nil {
		return invalid("retval: %v", err)
	}
	errmsgs, err := jsonStrings(top["errmsg"])
	if err != nil {
		return invalid("errmsg: %v", err)
	}
	rep.Errmsg = strings.Join(errmsgs, "; ")
	if rep.Infomsg, err = jsonStrings(top["infomsg"]); err != nil {
		return invalid("infomsg: %v", err)
	}
	return nil
}

// jsonFlags reads changed, rerun and retainResources.
func jsonFlags(top map[string]json.RawMessage, rep *reply) error {
	var err error
	if raw := top["changed"]; !isNull(raw) {
		if rep.Changed, err = jsonBool(raw); err != nil {
			return invalid("changed: %v", err)
		}
	}
	if raw := top["rerun"]; !isNull(raw) {
		s, err := jsonText(raw)
		if err != nil {
			return invalid("rerun: %v", err)
		}
		var ok bool
		if rep.Rerun, ok = parseRerun(s); !ok {
			return invalid("rerun %q is not true, false or auto", s)
		}
	}
	if raw := top["retainResources"]; !isNull(raw) {
		if rep.RetainResources, err = jsonBool(raw); err != nil {
			return invalid("retainResources: %v", err)
		}
	}
	return nil
}

// jsonGroupApproval reads the top-level groupApproval list.
func jsonGroupApproval(raw json.RawMessage) ([]approvalGroup, error) {
	if isNull(raw) {
		return nil, nil
	}
	var groups []struct {
		Group     string   `json:"group"`
		Resources []string `json:"resources"`
	}
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, invalid(`groupApproval: want [{"group": "<name>", "resources": ["<id>", …]}, …]: %v`, err)
	}
	var out []approvalGroup
	for _, g := range groups {
		out = append(out, approvalGroup{Group: g.Group, Resources: g.Resources})
	}
	return out, nil
}

// jsonResources reads request.resources.
func jsonResources(raw json.RawMessage) ([]resourceReply, error) {
	if isNull(raw) {
		return nil, nil
	}
	var request struct {
		Resources []map[string]json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(raw, &request); err != nil {
		return nil, invalid(`request: want {"resources": [{…}, …]}: %v`, err)
	}
	var out []resourceReply
	for i, m := range request.Resources {
		res, err := jsonResource(m)
		if err != nil {
			return out, invalid("request.resources[%d]: %v", i, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// jsonMembers are the members of a returned resource. null is the same as an absent
// member, except for spec, where it clears the spec.
type jsonMembers map[string]json.RawMessage

// text reads a member as a trimmed string; nil when absent.
func (m jsonMembers) text(key string) (*string, error) {
	return jsonMember(m, key, func(raw json.RawMessage) (string, error) {
		s, err := jsonText(raw)
		return strings.TrimSpace(s), err
	})
}

// flag reads a member as a boolean; nil when absent.
func (m jsonMembers) flag(key string) (*bool, error) { return jsonMember(m, key, jsonBool) }

// jsonMember reads the member key with read; nil when absent. Errors name the key.
func jsonMember[T any](m jsonMembers, key string, read func(json.RawMessage) (T, error)) (*T, error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	v, err := read(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	return &v, nil
}

// jsonResource reads one returned resource.
func jsonResource(m jsonMembers) (resourceReply, error) {
	var res resourceReply
	if m == nil {
		return res, errors.New("not an object")
	}
	id, err := m.text("id")
	if err != nil {
		return res, err
	}
	res.ID = deref(id)
	for _, f := range []struct {
		key string
		dst **string
	}{{"kind", &res.Kind}, {"target", &res.Target}, {"action", &res.Action}, {"group", &res.Group}} {
		if *f.dst, err = m.text(f.key); err != nil {
			return res, err
		}
	}
	if g, err := m.text("groupApproval"); err != nil {
		return res, err
	} else if g != nil {
		res.Group = g
	}
	if res.Mandatory, err = m.flag("mandatory"); err != nil {
		return res, err
	}
	for _, key := range []string{"remove", "removed"} {
		b, err := m.flag(key)
		if err != nil {
			return res, err
		}
		res.Remove = res.Remove || (b != nil && *b)
	}
	if a, err := m.text("autoselect"); err != nil {
		return res, err
	} else if a != nil {
		v := strings.ToLower(*a)
		if !validAutoselect(v) {
			return res, fmt.Errorf("autoselect %q is not true, mandatory, none or false", *a)
		}
		res.Autoselect = &v
	}
	if raw, ok := m["spec"]; ok {
		if res.Spec, err = jsonSpec(raw); err != nil {
			return res, err
		}
		res.SpecSet = true
	}
	if raw, ok := m["attrs"]; ok && !isNull(raw) {
		if res.Attrs, err = jsonAttrs(raw); err != nil {
			return res, err
		}
		res.AttrsSet = true
	}
	return res, nil
}

// jsonSpec reads a resource's spec: an object, a string holding one, or "" / null.
func jsonSpec(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("spec: %v", err)
		}
		raw = json.RawMessage(s)
	}
	return parseSpec(raw)
}

// jsonAttrs reads a resource's attrs: an object of strings (numbers and booleans as
// their text).
func jsonAttrs(raw json.RawMessage) (map[string]string, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &attrs); err != nil {
		return nil, fmt.Errorf("attrs: want an object of strings: %v", err)
	}
	out := map[string]string{}
	for k, v := range attrs {
		s, err := jsonText(v)
		if err != nil {
			return nil, fmt.Errorf("attrs.%s: %v", k, err)
		}
		out[k] = s
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// jsonText reads a string, or a number or boolean as its literal text.
func jsonText(raw json.RawMessage) (string, error) {
	t := bytes.TrimSpace(raw)
	switch {
	case isNull(t):
		return "", nil
	case t[0] == '"':
		var s string
		err := json.Unmarshal(t, &s)
		return s, err
	case t[0] == '{' || t[0] == '[':
		return "", errors.New("want a string, got " + jsonKindOf(t))
	}
	return string(t), nil
}

// jsonStrings reads a string or an array of strings, dropping empty ones.
func jsonStrings(raw json.RawMessage) ([]string, error) {
	t := bytes.TrimSpace(raw)
	if isNull(t) {
		return nil, nil
	}
	var list []json.RawMessage
	if t[0] == '[' {
		if err := json.Unmarshal(t, &list); err != nil {
			return nil, err
		}
	} else {
		list = []json.RawMessage{t}
	}
	var out []string
	for _, x := range list {
		s, err := jsonText(x)
		if err != nil {
			return nil, err
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// jsonBool reads true, false, "true" or "false".
func jsonBool(raw json.RawMessage) (bool, error) {
	s, err := jsonText(raw)
	if err != nil {
		return false, err
	}
	b, ok := parseBool(s)
	if !ok {
		return false, fmt.Errorf("%s is not true or false", bytes.TrimSpace(raw))
	}
	return b, nil
}

// jsonInt reads an integer, or a string of one.
func jsonInt(raw json.RawMessage) (int, error) {
	s, err := jsonText(raw)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", bytes.TrimSpace(raw))
	}
	return n, nil
}

func jsonKindOf(t []byte) string {
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a value"
}
