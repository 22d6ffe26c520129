package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a config file: the key path, the line (0 when
// unknown) and what is wrong.
type Problem struct {
	Path string
	Line int
	Msg  string
	// Secret marks a problem with a secret's value (an environment variable that is not
	// set, a password or key file that cannot be read), not with the file itself:
	// `config check --no-secrets` leaves these out.
	Secret bool
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Problems is every problem found in one file, in file order where lines are known.
type Problems struct {
	File string
	List []*Problem
}

func (ps *Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s):", ps.File, len(ps.List))
	for _, p := range ps.List {
		b.WriteString("\n  ")
		if p.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", p.Line)
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Load reads, decodes, defaults and validates a config file. The error, if any, is a
// *Problems listing everything wrong with line numbers.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := parse(path, data, filepath.Dir(path))
	if cfg != nil && len(cfg.lines) == 0 {
		// Nothing configured at all: a wrong file, or one not yet written. (Parse
		// accepts it, for defaults.)
		ps, _ := err.(*Problems)
		if ps == nil {
			ps = &Problems{File: path}
		}
		ps.List = append([]*Problem{{Msg: "the file is empty: it configures nothing (see examples/triggerflow.yaml)"}}, ps.List...)
		return cfg, ps
	}
	return cfg, err
}

// Parse is Load on bytes already read; name is used in messages. Relative template
// paths stay relative to the working directory.
func Parse(name string, data []byte) (*Config, error) { return parse(name, data, "") }

func parse(name string, data []byte, dir string) (*Config, error) {
	cfg := &Config{}
	var root yaml.Node
	problems := &Problems{File: name}

	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Unmarshal(data, &root); err != nil {
			problems.List = append(problems.List, yamlProblems(err)...)
			return nil, problems
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: only comments
			ps := yamlProblems(err)
			nameKeys(ps, &root)
			problems.List = append(problems.List, ps...)
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return nil, problems
			}
		}
	}
	cfg.SetDefaults()
	if dir != "" {
		cfg.resolveTemplates(dir)
	}
	lines := keyLines(&root)
	cfg.lines = lines
	for _, err := range Leaves(cfg.Validate()) {
		p := &Problem{Msg: err.Error()}
		var fp *Problem
		if errors.As(err, &fp) {
			cp := *fp
			p = &cp
		}
		p.Line = lines.lookup(p.Path)
		problems.List = append(problems.List, p)
	}
	for _, w := range append(cfg.warnings(), zeroDefaults(cfg, &root)...) {
		w.Line = lines.lookup(w.Path)
		cfg.Warnings = append(cfg.Warnings, w)
	}
	slices.SortStableFunc(cfg.Warnings, func(a, b *Problem) int { return cmp.Compare(a.Line, b.Line) })
	if len(problems.List) > 0 {
		return cfg, problems
	}
	return cfg, nil
}

// resolveTemplates makes relative template paths (itsm body_file, email template and
// html) relative to dir, the config file's directory, as a user reading the file expects.
func (c *Config) resolveTemplates(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.Routes {
		for j := range c.Routes[i].Actions {
			a := &c.Routes[i].Actions[j]
			if a.ITSM != nil {
				abs(&a.ITSM.BodyFile)
			}
			if a.Email != nil {
				abs(&a.Email.Template)
				abs(&a.Email.HTML)
			}
		}
	}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlProblems turns a yaml.v3 error into problems with lines.
func yamlProblems(err error) []*Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := make([]*Problem, 0, len(msgs))
	for _, m := range msgs {
		p := &Problem{Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
		}
		out = append(out, p)
	}
	return out
}

// Leaves flattens a tree of errors.Join (what Validate and wfi.CheckConfig return) into
// the errors it holds, in order.
func Leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// Line is the line of a key path (`routes[2].when`) in the file the Config was loaded
// from, or of its nearest parent in the file; 0 when unknown. Checks made outside this
// package (route conditions, templates) use it to name the line of what they report.
func (c *Config) Line(path string) int { return c.lines.lookup(path) }

// lineIndex maps key paths (`ingress.users[0].name`) to the line of their key.
type lineIndex map[string]int

func (li lineIndex) lookup(path string) int {
	for path != "" {
		if l, ok := li[path]; ok {
			return l
		}
		// fall back to the nearest parent that is in the file
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

func keyLines(root *yaml.Node) lineIndex {
	li := lineIndex{}
	walkKeys(root, func(path string, k, v *yaml.Node) {
		if k != nil {
			li[path] = k.Line
		} else {
			li[path] = v.Line
		}
	})
	return li
}
