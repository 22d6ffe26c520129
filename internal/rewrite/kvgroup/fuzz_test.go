package kvgroup_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/triggerflow/triggerflow/internal/rewrite/kvgroup"
)

// FuzzParse: no input panics Parse; a rejection is a *SyntaxError pointing inside the
// input; an accepted document survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, tc := range okCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in))
		}
	}
	for _, tc := range errCases {
		if len(tc.in) < 4096 {
			f.Add([]byte(tc.in))
		}
	}
	files, _ := filepath.Glob("testdata/seed/*.kvg")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := kvgroup.Parse(in)
		if err != nil {
			if d != nil {
				t.Fatalf("Parse returned a document with error %v", err)
			}
			var se *kvgroup.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			checkPosition(t, in, se)
			return
		}
		roundTrip(t, in, d)
	})
}

// checkPosition fails unless se names a line of in and a column within it or just past
// its end (end of input); columns of the first line start after a byte order mark.
func checkPosition(t *testing.T, in []byte, se *kvgroup.SyntaxError) {
	t.Helper()
	lines := bytes.Split(in, []byte("\n"))
	if se.Line < 1 || se.Line > len(lines) {
		t.Fatalf("%v: line outside the %d lines of the input", se, len(lines))
	}
	line := lines[se.Line-1]
	if se.Line == 1 {
		line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	if se.Column < 1 || se.Column > len(line)+1 {
		t.Fatalf("%v: column outside line %q", se, line)
	}
}
