// Package configcheck is `triggerflow config check`: every check the services run at
// start-up, in one place, for the command and for the tests of what ships a config
// (deploy/k8s, examples/).
package configcheck

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/wfi"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

// Check loads a config file and runs every check the services run at start-up:
// what config.Load validates (keys, values, files, secrets), the routes' compilation
// (`when` conditions, as the dispatcher compiles them) and the templates (syntax and
// placeholders, wfi.CheckConfig, as the dispatcher checks them). It returns every
// problem, in line order, each with its line; err is for a file that cannot be read.
// cfg is nil when the file is not YAML.
func Check(path string) (cfg *config.Config, problems []*config.Problem, err error) {
	cfg, err = config.Load(path)
	var ps *config.Problems
	switch {
	case errors.As(err, &ps):
		problems = ps.List
	case err != nil:
		return nil, nil, err
	}
	if cfg == nil {
		return nil, problems, nil
	}
	reported := map[string]bool{} // a key config.Load already found wrong is not reported again
	for _, p := range problems {
		reported[p.Path] = true
	}
	var more []*config.Problem
	if _, err := dispatcher.CompileRoutes(cfg.Routes); err != nil {
		for _, e := range config.Leaves(err) {
			p := &config.Problem{Msg: e.Error()}
			var re *dispatcher.RouteError
			if errors.As(e, &re) {
				p = &config.Problem{Path: fmt.Sprintf("routes[%d].%s", re.Index, re.Field), Msg: re.Err.Error()}
			}
			more = append(more, p)
		}
	}
	for _, e := range config.Leaves(wfi.CheckConfig(cfg)) {
		p := &config.Problem{Msg: e.Error()}
		if cp := (*config.Problem)(nil); errors.As(e, &cp) {
			p = cp
		}
		more = append(more, p)
	}
	for _, p := range more {
		if p.Path != "" && reported[p.Path] {
			continue
		}
		p.Line = cfg.Line(p.Path)
		problems = append(problems, p)
	}
	slices.SortStableFunc(problems, func(a, b *config.Problem) int { return cmp.Compare(a.Line, b.Line) })
	return cfg, problems, nil
}
