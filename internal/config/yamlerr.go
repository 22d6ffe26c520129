package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoder's type errors name a line and a Go type ("line 56: field publish_timeot not
// found in type config.Ingress", "cannot unmarshal !!str `5 seconds` into time.Duration");
// nameKeys gives each the key path a user finds in the file and in the README, in
// config check's own form: "ingress.publish_timeot: not a known key (did you mean
// publish_timeout?)", "ingress.publish_timeout: "5 seconds" is not a duration (such as
// 30s, 5m or 1h30m)".

var (
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	cannotDecode = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
)

// walkKeys calls fn for every key of the document (k its key node; nil for a list item)
// and its value, with the key's path (`ingress.users[0].name`).
func walkKeys(root *yaml.Node, fn func(path string, k, v *yaml.Node)) {
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				fn(p, k, v)
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				fn(p, nil, c)
				walk(c, p)
			}
		}
	}
	walk(root, "")
}

// nameKeys rewrites the decoder's problems in ps with the path of the key they are about,
// found in root by line (and by name, or value, where a line holds several keys: `{a: 1,
// b: x}`). A problem whose key cannot be told is left as the decoder wrote it.
func nameKeys(ps []*Problem, root *yaml.Node) {
	for _, p := range ps {
		if p.Line == 0 || p.Path != "" {
			continue
		}
		var found []string
		var first *yaml.Node // the value of found[0]
		match := func(ok func(k, v *yaml.Node) bool) {
			found = found[:0]
			walkKeys(root, func(path string, k, v *yaml.Node) {
				if ok(k, v) {
					if found = append(found, path); len(found) == 1 {
						first = v
					}
				}
			})
		}
		if m := unknownField.FindStringSubmatch(p.Msg); m != nil {
			match(func(k, _ *yaml.Node) bool { return k != nil && k.Line == p.Line && k.Value == m[1] })
			if len(found) == 1 {
				p.Path, p.Msg = found[0], "not a known key"+knownKeysHint(found[0])
			}
			continue
		}
		if m := cannotDecode.FindStringSubmatch(p.Msg); m != nil {
			tag, value, goType := m[1], m[2], m[3]
			match(func(_, v *yaml.Node) bool {
				switch {
				case v.Line != p.Line:
					return false
				case tag == "!!seq":
					return v.Kind == yaml.SequenceNode
				case tag == "!!map":
					return v.Kind == yaml.MappingNode
				}
				short, cut := strings.CutSuffix(value, "...")
				return v.Kind == yaml.ScalarNode && (v.Value == value || cut && strings.HasPrefix(v.Value, short))
			})
			if len(found) == 1 {
				var what string
				switch tag {
				case "!!seq":
					what = "a list"
				case "!!map":
					what = "a mapping"
				default:
					what = strconv.Quote(first.Value)
				}
				p.Path, p.Msg = found[0], what+" is not "+describeGoType(goType)
			}
			continue
		}
		// A message of the config's own decoders ("\"lots\" is not a size: …"): the key
		// whose value is on that line, if there is one.
		match(func(_, v *yaml.Node) bool { return v.Line == p.Line && v.Kind == yaml.ScalarNode })
		if len(found) == 1 {
			p.Path = found[0]
		}
	}
}

// describeGoType says what a value of a Go type is written as in the file.
func describeGoType(t string) string {
	switch {
	case t == "time.Duration":
		return "a duration (such as 30s, 5m or 1h30m)"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a single value (text)"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping (key: value)"
	}
	return "what this key takes (a mapping of its own keys)"
}

// knownKeysHint is " (did you mean X?)" for the known key nearest the unknown key at
// path, or " (known keys: …)" when none is near, or "" when the keys at that place are
// not known here.
func knownKeysHint(path string) string {
	i := strings.LastIndex(path, ".")
	name := path[i+1:]
	keys := knownKeys(path[:max(i, 0)])
	if i < 0 {
		keys = knownKeys("")
	}
	if len(keys) == 0 {
		return ""
	}
	best, bestD := "", 3
	for _, k := range keys {
		if d := EditDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return " (did you mean " + best + "?)"
	}
	return " (known keys: " + strings.Join(keys, ", ") + ")"
}

// knownKeys are the keys the config takes at path (`ingress`, `routes[0].actions[1]`;
// "" for the top level), from the yaml tags of its Go types; nil when path leads
// nowhere known.
func knownKeys(path string) []string {
	steps, ok := pathSteps(path)
	if !ok {
		return nil
	}
	t := reflect.TypeFor[Config]()
	for _, st := range steps {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case st.index >= 0 && t.Kind() == reflect.Slice, st.index < 0 && t.Kind() == reflect.Map:
			t = t.Elem()
		case st.index < 0 && t.Kind() == reflect.Struct:
			f, ok := fieldByYAML(t, st.key)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	collectYAMLKeys(t, &keys)
	slices.Sort(keys)
	return slices.Compact(keys)
}

// step is one step of a key path: a key, or (index >= 0) a list index.
type step struct {
	key   string
	index int
}

// pathSteps splits a key path (`routes[0].actions[1].itsm`) into its steps.
func pathSteps(path string) ([]step, bool) {
	var out []step
	for path != "" {
		if strings.HasPrefix(path, "[") {
			end := strings.Index(path, "]")
			if end < 0 {
				return nil, false
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil || i < 0 {
				return nil, false
			}
			out, path = append(out, step{index: i}), strings.TrimPrefix(path[end+1:], ".")
			continue
		}
		seg, rest, _ := strings.Cut(path, ".")
		if j := strings.Index(seg, "["); j >= 0 {
			seg, rest = seg[:j], path[j:]
		}
		out, path = append(out, step{key: seg, index: -1}), rest
	}
	return out, true
}

// fieldByYAML finds the field of struct t written as name in the file (inline structs
// included).
func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") {
			if g, ok := fieldByYAML(f.Type, name); ok {
				g.Index = append([]int{i}, g.Index...)
				return g, true
			}
			continue
		}
		if tag == name && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func collectYAMLKeys(t reflect.Type, keys *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case strings.Contains(opts, "inline"):
			collectYAMLKeys(f.Type, keys)
		case tag != "" && tag != "-":
			*keys = append(*keys, tag)
		}
	}
}

// EditDistance is the Levenshtein distance of two ASCII strings: how near a misspelt
// name is to a known one.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// zeroDefaults warns about each number or duration written as 0 that the config takes
// as unset: one whose value, once the defaults are applied, is not 0 ("itsm_sync.retry:
// {attempts: 0}" means 8 attempts, not none), and a retry's attempts of 0, which take
// another retry's. A 0 that stays 0 (a port of 0, securechange.retries: 0) means what it
// says and is not warned about.
func zeroDefaults(c *Config, root *yaml.Node) []*Problem {
	var out []*Problem
	walkKeys(root, func(path string, k, v *yaml.Node) {
		if k == nil || v.Kind != yaml.ScalarNode || !isZero(v.Value) {
			return
		}
		if strings.HasSuffix(path, ".retry.attempts") && path != "itsm_sync.retry.attempts" {
			out = append(out, &Problem{Path: path, Msg: "0 is taken as unset: the attempts of itsm_sync.retry apply (8 by default); 1 is a single attempt, no retry"})
			return
		}
		f, ok := valueAt(reflect.ValueOf(c).Elem(), path)
		if !ok || f.IsZero() {
			return
		}
		out = append(out, &Problem{Path: path, Msg: fmt.Sprintf("%s is taken as unset: the default, %v, applies; remove the line to say so, or give another value", v.Value, f.Interface())})
	})
	return out
}

// isZero reports whether a scalar is 0 written as a number or a duration (0, 0.0, 0s, 0ms).
func isZero(s string) bool {
	s = strings.TrimRight(strings.TrimSpace(s), "hmsuµn")
	if s == "" {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f == 0
}

// valueAt is the value of the field the key path names in v (a Config), following yaml
// tags, string-keyed maps and list indexes.
func valueAt(v reflect.Value, path string) (reflect.Value, bool) {
	steps, ok := pathSteps(path)
	if !ok {
		return reflect.Value{}, false
	}
	for _, st := range steps {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		switch {
		case st.index >= 0 && v.Kind() == reflect.Slice && st.index < v.Len():
			v = v.Index(st.index)
		case st.index < 0 && v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String:
			if v = v.MapIndex(reflect.ValueOf(st.key).Convert(v.Type().Key())); !v.IsValid() {
				return reflect.Value{}, false
			}
		case st.index < 0 && v.Kind() == reflect.Struct:
			f, ok := fieldByYAML(v.Type(), st.key)
			if !ok {
				return reflect.Value{}, false
			}
			v = v.FieldByIndex(f.Index)
		default:
			return reflect.Value{}, false
		}
	}
	for v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	return v, v.IsValid()
}
