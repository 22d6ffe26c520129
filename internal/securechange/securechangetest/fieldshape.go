package securechangetest

import (
	"regexp"
)

// The simulator's own check of a field write, written from the shapes of
// Tufin's SDK (pytos, pytos/securechange/xml_objects/rest.py), on purpose
// not from the client's securechange.FieldTypes: a client that writes a value
// under the wrong key must be told so here, as SecureChange would.

// sdkStringValue: the field types whose value is a string, and the key
// holding it (rest.py from_xml_node of each class).
var sdkStringValue = map[string]struct {
	key    string
	format *regexp.Regexp // nil: any string
}{
	"text_field": {key: "text"},                                                     // Step_Field_Text
	"text_area":  {key: "text"},                                                     // Step_Field_Text_Area
	"manager":    {key: "text"},                                                     // Step_Field_Manager
	"date":       {key: "value", format: regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)}, // Step_Field_Date, %Y-%m-%d
	"time":       {key: "value", format: regexp.MustCompile(`^\d{2}:\d{2}$`)},       // Step_Field_Time, %H:%M
	"hyperlink":  {key: "url"},                                                      // Step_Field_Hyperlink
}

// checkSDKShape rejects a write to a field stored as read_only, and a
// string-valued field written under a key other than its own (a date under
// "text") or with a value of the wrong shape.
func checkSDKShape(f, in map[string]any) *apiError {
	typ, name := str(f, "@xsi.type"), str(f, "name")
	switch v := f["read_only"].(type) {
	case bool:
		if v {
			return badRequest("Field %q is read only and cannot be updated", name)
		}
	case string:
		if v == "true" {
			return badRequest("Field %q is read only and cannot be updated", name)
		}
	}
	want, ok := sdkStringValue[typ]
	if !ok {
		return nil
	}
	for _, k := range []string{"text", "value", "url"} {
		if _, has := in[k]; has && k != want.key {
			return badRequest("Field %q is of type %s: its value goes in %q, not %q", name, typ, want.key, k)
		}
	}
	v, has := in[want.key]
	if !has || v == nil {
		return nil
	}
	s, isStr := v.(string)
	if !isStr {
		return badRequest("Field %q: %s must be a string", name, want.key)
	}
	if want.format != nil && s != "" && !want.format.MatchString(s) {
		return badRequest("Field %q (%s): %q is not a valid %s", name, typ, s, typ)
	}
	return nil
}
