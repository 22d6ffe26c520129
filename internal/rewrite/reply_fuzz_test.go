package rewrite

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeReply feeds a plugin's output, in either format, to the reply decoders: they
// never panic, and a reply they accept has its header read and a valid rerun.
func FuzzDecodeReply(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("kvgroup", "testdata", "seed", "*output*.kvg"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, b)
	}
	for _, s := range []string{
		`"" "" = { "retval" = "0" "changed" = "true" "rerun" = "auto" "resource" "" = { "id" = "x" "mandatory" = "false" "spec" = "{}" } }`,
		`"" "" = { "retval" = "1" "errmsg" = "no" "groupApproval" "g" = { "resource" = "a" } }`,
	} {
		f.Add(false, []byte(s))
	}
	for _, s := range []string{
		`{"retval": 0, "changed": true, "rerun": "auto", "request": {"resources": [{"id": "x", "attrs": {"a": "b"}, "spec": {}}]}}`,
		`{"retval": 1, "errmsg": ["no", "never"], "infomsg": "x", "groupApproval": [{"group": "g", "resources": ["a"]}]}`,
		"\xef\xbb\xbf{\"retval\": \"0\"}",
	} {
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, isJSON bool, out []byte) {
		decode := decodeKVGroupReply
		if isJSON {
			decode = decodeJSONReply
		}
		rep, err := decode(out)
		if err != nil {
			return
		}
		if !rep.ok {
			t.Fatalf("accepted without a retval: %q", out)
		}
		switch rep.Rerun {
		case "true", "false", "auto":
		default:
			t.Fatalf("rerun %q accepted: %q", rep.Rerun, out)
		}
	})
}
