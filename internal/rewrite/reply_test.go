package rewrite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/failure"
)

func TestRewriteUnreadableOutput(t *testing.T) {
	for _, format := range []string{"kvgroup", "json"} {
		t.Run(format, func(t *testing.T) {
			r := newTestRewriter(t, config.Plugin{Name: "junk", Command: pluginCmd(t, "kv_garbage.sh"), Format: format})
			_, err := r.Rewrite(context.Background(), testInput())
			if err == nil || failure.IsPermanent(err) {
				t.Fatalf("err = %v (permanent %v), want a transient error", err, failure.IsPermanent(err))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `rewrite plugin "junk": unreadable output: `) || !strings.Contains(msg, `Segmentation fault?`) {
				t.Errorf("err = %q, want it to name the plugin and show the output", msg)
			}
		})
	}
}

// The seed's output examples (kvgroup/testdata/seed) decode as the contract says.
func TestDecodeSeedOutputs(t *testing.T) {
	read := func(name string) reply {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("kvgroup", "testdata", "seed", name))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := decodeKVGroupReply(b)
		if err != nil || !rep.ok {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Retval != 0 || !rep.Changed || rep.Errmsg != "" || rep.Infomsg != nil {
			t.Errorf("%s: header = %+v", name, rep)
		}
		return rep
	}
	rep := read("04-output-add-group-membership.kvg")
	if rep.RetainResources || len(rep.Resources) != 2 || rep.Resources[0].ID != "4E12EZ11531ABAB574AB4B4295C4872D" || rep.Resources[1].ID != "" {
		t.Errorf("04: %+v", rep)
	}
	if a := rep.Resources[1].Autoselect; a == nil || *a != "true" {
		t.Errorf("04: autoselect %v", a)
	}
	if rep := read("05-output-add-group-membership-retain.kvg"); !rep.RetainResources {
		t.Error("05: retainResources not read")
	}
	rep = read("06-output-add-group-membership-and-role.kvg")
	if a := rep.Resources[2].Autoselect; a == nil || *a != "mandatory" {
		t.Errorf("06: autoselect %v", a)
	}
	rep = read("07-output-remove-resource-retain.kvg")
	if len(rep.Resources) != 1 || !rep.Resources[0].Remove || !rep.RetainResources {
		t.Errorf("07: %+v (the seed spells it \"removed\")", rep)
	}
	rep = read("09-output-group-approval.kvg")
	if g := rep.Resources[1].Group; g == nil || *g != "49583745-3242-6364-3453-384850692934" {
		t.Errorf("09: groupApproval %v", g)
	}
	if g := rep.Resources[2].Group; g != nil {
		t.Errorf("09: resource without groupApproval has group %q", *g)
	}
	if g := normGroup(*rep.Resources[0].Group); g != "49583745-3242-6364-3453-384850692934" {
		t.Errorf("09: %q", g)
	}
	if g := normGroup("00000000-0000-0000-0000-000000000000"); g != "" {
		t.Errorf("the seed's null group is %q, want none", g)
	}
}

func TestDecodeReplyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, format, out string
		permanent         bool
		want              string
	}{
		{"empty", "kvgroup", "", false, `unreadable output: no "" "" = { … } group`},
		{"no retval", "kvgroup", `"" "" = { "changed" = "false" }`, false, `unreadable output: no "retval" (it is mandatory)`},
		{"truncated", "kvgroup", `"" "" = { "retval" = "0"`, false, "unreadable output: kvgroup: line 1"},
		{"retval text", "kvgroup", `"" "" = { "retval" = "ok" }`, true, `invalid output: retval "ok" is not an integer`},
		{"bad rerun", "kvgroup", `"" "" = { "retval" = "0" "rerun" = "sometimes" }`, true, `invalid output: rerun "sometimes" is not true, false or auto`},
		{"bad spec", "kvgroup", `"" "" = { "retval" = "0" "resource" "" = { "spec" = "[1]" } }`, true, `invalid output: resource "": spec is not a JSON object`},
		{"json no retval", "json", `{"changed": false}`, false, `unreadable output: no "retval" (it is mandatory)`},
		{"json truncated", "json", `{"retval": 0, `, false, "unreadable output: unexpected end of JSON input"},
		{"json bad attrs", "json", `{"retval": 0, "request": {"resources": [{"attrs": [1]}]}}`, true, "invalid output: request.resources[0]: attrs: want an object of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.format == "json" {
				_, err = decodeJSONReply([]byte(tc.out))
			} else {
				_, err = decodeKVGroupReply([]byte(tc.out))
			}
			if err == nil || failure.IsPermanent(err) != tc.permanent || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v (permanent %v), want %q (permanent %v)", err, failure.IsPermanent(err), tc.want, tc.permanent)
			}
		})
	}
	// errmsg and retval come first: a failing reply with bad resources is a failure.
	rep, err := decodeKVGroupReply([]byte(`"" "" = { "retval" = "1" "errmsg" = "no" "resource" "" = { "mandatory" = "perhaps" } }`))
	if !rep.ok || rep.Errmsg != "no" || rep.Retval != 1 || err == nil {
		t.Errorf("rep = %+v, err = %v", rep, err)
	}
}
