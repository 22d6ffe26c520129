package kvgroup_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/rewrite/kvgroup"
)

var update = flag.Bool("update", false, "rewrite testdata/seed/*.golden from the current Write output")

const zeroGUID = "00000000-0000-0000-0000-000000000000"

// seedChecks holds, per example of testdata/seed, a few values the seed text shows.
var seedChecks = map[string]func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group){
	"01-input-template": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		want(t, d.Version, "")
		get(t, body, "module", "idwfm")
		get(t, body, "sessionid", "<session ID>")
		get(t, body, "firstrun", "<true|false>")
		for _, k := range []string{"preselect_role", "postselect_role", "preselect_template", "postselect_template", "preselect_nosgroup", "postselect_nosgroup"} {
			get(t, body, k, "1")
		}
		if nav := body.Sub("navigation"); nav == nil || len(nav.Entries) != 0 {
			t.Errorf("navigation (its … is a comment) = %+v", nav)
		}
		rec := body.All("recipient")
		if len(rec) != 2 || rec[0].Name != "user" || rec[1].Name != "user" {
			t.Errorf("recipient twice, named user: %+v", rec)
		}
		if body.Sub("request").Sub("resource") == nil {
			t.Errorf("request has no resource")
		}
		for _, e := range body.Entries {
			if strings.Contains(e.Key, "#") || strings.Contains(e.Key, "CGIs") {
				t.Errorf("comment text leaked into key %q", e.Key)
			}
		}
		want(t, len(body.Entries), 15)
	},
	"02-input-example": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		want(t, d.Version, "1.1")
		get(t, body, "sessionid", "Scf7e0618-8b44-4304-aed0-cabd17e45ed2")
		get(t, body, "event", "EVENT_POST_BATCH")
		get(t, body.Sub("navigation"), "prequest", "UPD-SELF-CONTACT")
		req := body.Sub("request")
		get(t, req, "requestID", "5488CCB03DB901864DE53DDB63695AE7")
		get(t, req, "requesterName", "Maddox, Woodrow")
		get(t, req, "notes", "")
		res := req.All("resource")
		if len(res) != 1 || res[0].Name != "5488CCB5CEA4B8264491733F52D03D02" {
			t.Fatalf("resources = %+v", res)
		}
		get(t, res[0].Group, "groupApproval", zeroGUID)
		get(t, res[0].Group, "autoselect", "none")
		get(t, res[0].Group, "operation", "UPDT")
		attrs := req.All("attribute")
		var names []string
		for _, a := range attrs {
			names = append(names, a.Name)
		}
		want(t, strings.Join(names, ","), "EXCHANGE-ALIAS,HOME-COUNTRY,PROFILEID,WORKLOC-AD")
		get(t, attrs[3].Group.Sub("value"), "value", "Building Floor Cubicle ") // trailing space kept
		get(t, body.Sub("requester"), "name", "Maddox, Woodrow")
	},
	"03-output-template": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		get(t, body, "changed", "true|false")
		get(t, body, "rerun", "true|false|auto")
		get(t, body, "infomsg", "")
		get(t, body, "errmsg", "")
		get(t, body, "retainResources", "<true|false>")
		get(t, body, "retval", "<N>")
		get(t, body, "skip_summary_pdr", "1")
		res := body.All("resource")
		if len(res) != 1 || res[0].Name != "<resource id from input>|<empty>" {
			t.Fatalf("resources = %+v", res)
		}
		get(t, res[0].Group, "remove", "true")
		want(t, len(body.Entries), 12)
	},
	"04-output-add-group-membership": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		want(t, d.Version, "")
		get(t, body, "changed", "true")
		get(t, body, "infomsg", "")
		get(t, body, "retval", "0")
		res := body.All("resource")
		if len(res) != 2 || res[0].Name != "4E12EZ11531ABAB574AB4B4295C4872D" || res[1].Name != "" {
			t.Fatalf("resources = %+v", res)
		}
		get(t, res[0].Group, "authorizer", "crysta.soria")
		get(t, res[1].Group, "groupID", "CN=FIN-AR,OU=resources,OU=staff,DC=norse,DC=bravurasecurity,DC=com")
		get(t, res[1].Group, "autoselect", "true")
		get(t, res[1].Group, "operation", "GRUA")
	},
	"05-output-add-group-membership-retain": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		get(t, body, "retval", "0")
		get(t, body, "retainResources", "true")
		res := body.All("resource")
		if len(res) != 1 || res[0].Name != "" {
			t.Fatalf("resources = %+v", res)
		}
		get(t, res[0].Group, "accountID", "steve.benes")
		get(t, res[0].Group, "autoselect", "true")
	},
	"06-output-add-group-membership-and-role": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		want(t, d.Version, "1.0")
		get(t, body, "retval", "0")
		res := body.All("resource")
		if len(res) != 3 {
			t.Fatalf("resources = %+v", res)
		}
		get(t, res[0].Group, "groupApproval", zeroGUID)
		get(t, res[0].Group, "itemType", "template")
		get(t, res[1].Group, "template", "NORSE_TEMPLATE")
		get(t, res[2].Group, "autoselect", "mandatory")
		get(t, res[2].Group, "role", "EXCHANGE_ROLE")
	},
	"07-output-remove-resource-retain": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		want(t, d.Version, "1.0")
		get(t, body, "retval", "0")
		get(t, body, "retainResources", "true")
		// the seed's example spells it "removed"; its output description says "remove"
		get(t, body.Sub("resource"), "removed", "true")
		want(t, body.All("resource")[0].Name, "3G34GB22672CDCD574BC4C4295D5983F")
	},
	"08-output-default-password": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		want(t, d.Version, "1.0")
		get(t, body, "retval", "0")
		res := body.Sub("resource")
		get(t, res, "password", "defaultPassword")
		get(t, res, "groupApproval", zeroGUID)
		// the seed repeats "itemType" = "template": both are kept, in order
		if it := res.All("itemType"); len(it) != 2 || it[0].Value != "template" || it[1].Value != "template" {
			t.Errorf("itemType entries = %+v", it)
		}
		want(t, len(res.Entries), 19)
	},
	"09-output-group-approval": func(t *testing.T, d *kvgroup.Document, body *kvgroup.Group) {
		want(t, d.Version, "")
		get(t, body, "retval", "0")
		res := body.All("resource")
		if len(res) != 3 {
			t.Fatalf("resources = %+v", res)
		}
		const guid = "49583745-3242-6364-3453-384850692934"
		get(t, res[0].Group, "groupApproval", guid)
		get(t, res[1].Group, "groupApproval", guid)
		get(t, res[1].Group, "accountID", "cecil.crysta")
		get(t, res[2].Group, "autoselect", "mandatory")
		if _, ok := res[2].Group.Get("groupApproval"); ok {
			t.Errorf("role resource has a groupApproval")
		}
	},
}

func TestSeedExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/seed/*.kvg")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(seedChecks) {
		t.Errorf("%d seed files, %d checks", len(files), len(seedChecks))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".kvg")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			d, err := kvgroup.Parse(in)
			if err != nil {
				t.Fatal(err)
			}
			// every seed example is wrapped in one "" "" = { … }
			if len(d.Root.Entries) != 1 || d.Root.Entries[0].Key != "" || d.Root.Entries[0].Name != "" || d.Root.Entries[0].Group == nil {
				t.Fatalf("top level is not one \"\" \"\" group: %s", dump(d))
			}
			check, ok := seedChecks[name]
			if !ok {
				t.Fatalf("no checks for %s", name)
			}
			check(t, d, d.Root.Sub(""))
			roundTrip(t, in, d)

			out, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(file, ".kvg") + ".golden"
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantOut, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out, wantOut) {
				t.Errorf("Write output differs from %s (run go test -update):\n%s", golden, out)
			}
		})
	}
}

func get(t *testing.T, g *kvgroup.Group, key, wantV string) {
	t.Helper()
	v, ok := g.Get(key)
	if !ok {
		t.Errorf("%q missing", key)
	} else if v != wantV {
		t.Errorf("%q = %q, want %q", key, v, wantV)
	}
}

func want[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
