package main_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFuzzTargetsListed: every fuzz target in the repository is one `make fuzz` runs, in its
// own package, so that none is written and then never run.
func TestFuzzTargetsListed(t *testing.T) {
	t.Parallel()
	mk := string(repoFile(t, "Makefile"))
	var recipe []string
	inFuzz := false
	for line := range strings.SplitSeq(mk, "\n") {
		switch {
		case strings.HasPrefix(line, "fuzz:"):
			inFuzz = true
		case inFuzz && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, line)
		case inFuzz:
			inFuzz = false
		}
	}
	if len(recipe) == 0 {
		t.Fatal("the Makefile has no fuzz target")
	}
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			n++
			if !listed(recipe, dir, m[1]) {
				t.Errorf("%s in ./%s is not run by make fuzz: add `$(GO) test -run '^$$' -fuzz '^%s$$' -fuzztime $(FUZZTIME) ./%s/` to its recipe", m[1], dir, m[1], dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no fuzz target found")
	}
}

// listed reports whether a line of the fuzz recipe runs target in the package at dir
// (relative to the repository): `… -fuzz '^target$$' … ./dir/` or `cd dir && … .`.
func listed(recipe []string, dir, target string) bool {
	for _, l := range recipe {
		if !strings.Contains(l, "-fuzz '^"+target+"$$'") {
			continue
		}
		if strings.Contains(l, "./"+dir+"/") || strings.HasPrefix(strings.TrimSpace(l), "cd "+dir+" && ") && strings.HasSuffix(l, " .") {
			return true
		}
	}
	return false
}
