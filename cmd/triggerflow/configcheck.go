package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/triggerflow/triggerflow/internal/config"
)

// concerning keeps the problems that stop one of the services.
func concerning(problems []*config.Problem, services ...string) []*config.Problem {
	return slices.DeleteFunc(slices.Clone(problems), func(p *config.Problem) bool {
		return !slices.ContainsFunc(services, p.Concerns)
	})
}

// printProblems writes each problem on one line: FILE:LINE: key.path: problem.
func printProblems(w io.Writer, file string, problems []*config.Problem) {
	for _, p := range problems {
		loc := file
		if p.Line > 0 {
			loc = fmt.Sprintf("%s:%d", file, p.Line)
		}
		fmt.Fprintf(w, "%s: %s\n", loc, p.Error())
	}
}
