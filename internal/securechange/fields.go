package securechange

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// fieldWithValue is the field object to PUT back: f as SecureChange returned it (Raw,
// so keys this package does not know survive) with its value keys replaced by value,
// converted per f's type (see UpdateFields).
func fieldWithValue(f Field, value string) (map[string]json.RawMessage, error) {
	if f.ReadOnly {
		return nil, fmt.Errorf("field %q (%s) is read-only", f.Name, typeName(f.Type))
	}
	m, err := rawField(f)
	if err != nil {
		return nil, err
	}
	ft, _ := LookupFieldType(f.Type)
	if !ft.Writable {
		return nil, fmt.Errorf("field %q has type %s which cannot be written", f.Name, typeName(f.Type))
	}
	switch ft.Shape {
	case ShapeString: // text, date, time, hyperlink, manager: FieldTypes' key
		m[ft.ValueKey] = jsonString(value)
		if ft.ValueKey != "text" {
			// A date's, time's or hyperlink's value is never "text"; one
			// read back from a ticket is stale and must not be sent.
			delete(m, "text")
		}
	case ShapeSelection:
		opt, err := option(f, value)
		if err != nil {
			return nil, err
		}
		m[ft.ValueKey] = jsonString(opt)
	case ShapeBool:
		b, ok := parseBool(value)
		if !ok {
			return nil, fmt.Errorf("field %q (checkbox): %q is not true/false, yes/no or 1/0", f.Name, value)
		}
		m[ft.ValueKey] = jsonBool(b)
	case ShapeMultiSelection:
		selected := []map[string]string{}
		for _, v := range strings.Split(value, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			opt, err := option(f, v)
			if err != nil {
				return nil, err
			}
			selected = append(selected, map[string]string{"value": opt})
		}
		b, _ := json.Marshal(map[string]any{"selected_option": selected}) // strings: cannot fail
		m[ft.ValueKey] = b
	case ShapeApproval:
		approve, reason, err := parseApproval(value)
		if err != nil {
			return nil, fmt.Errorf("field %q (approve_reject): %w", f.Name, err)
		}
		setApproval(m, approve, reason)
	default:
		return nil, fmt.Errorf("field %q has type %s which cannot be written", f.Name, typeName(f.Type))
	}
	return m, nil
}

// rawField decodes f.Raw, the field object as received, for writing it back. The
// type, id and name are set from f when the object lacks them.
func rawField(f Field) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(f.Raw) > 0 {
		if err := json.Unmarshal(f.Raw, &m); err != nil || m == nil {
			return nil, fmt.Errorf("field %q: its JSON is not an object", f.Name)
		}
	}
	if _, ok := m["@xsi.type"]; !ok {
		m["@xsi.type"] = jsonString(f.Type)
	}
	if _, ok := m["id"]; !ok && f.ID != "" {
		m["id"] = json.RawMessage(f.ID) // digits
	}
	if _, ok := m["name"]; !ok {
		m["name"] = jsonString(f.Name)
	}
	return m, nil
}

// setApproval sets an approve_reject field's value keys.
func setApproval(m map[string]json.RawMessage, approve bool, reason string) {
	m["approved"] = jsonBool(approve)
	m["reason"] = jsonString(reason)
}

// option returns the option of f that v names: exactly, or else the one option equal
// to it ignoring case. Anything else is an error listing the options.
func option(f Field, v string) (string, error) {
	var folded []string
	for _, o := range f.Options {
		if o == v {
			return o, nil
		}
		if strings.EqualFold(o, v) {
			folded = append(folded, o)
		}
	}
	if len(folded) == 1 {
		return folded[0], nil
	}
	opts := "it has none"
	if len(f.Options) > 0 {
		opts = "options: " + quoteAll(f.Options)
	}
	return "", fmt.Errorf("field %q (%s): %q is not one of its options; %s", f.Name, f.Type, v, opts)
}

// parseBool accepts true/false, yes/no and 1/0, in any case, around spaces.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1":
		return true, true
	case "false", "no", "0":
		return false, true
	}
	return false, false
}

// parseApproval reads "approve[: reason]" or "reject[: reason]" ("approved" and
// "rejected" too, in any case).
func parseApproval(s string) (approve bool, reason string, err error) {
	verb, reason, _ := strings.Cut(s, ":")
	switch strings.ToLower(strings.TrimSpace(verb)) {
	case "approve", "approved":
		approve = true
	case "reject", "rejected":
	default:
		return false, "", errors.New(strconv.Quote(s) + ` is neither "approve[: reason]" nor "reject[: reason]"`)
	}
	return approve, strings.TrimSpace(reason), nil
}

func typeName(t string) string {
	if t == "" {
		return "(none)"
	}
	return t
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string: cannot fail
	return b
}

func jsonBool(b bool) json.RawMessage {
	if b {
		return json.RawMessage("true")
	}
	return json.RawMessage("false")
}
