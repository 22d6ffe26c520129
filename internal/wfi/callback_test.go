package wfi_test

import (
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/wfi"
)

// #callback.<gjson path># reads an inbound callback's JSON (strings as is, null as "",
// anything else as JSON, no ServiceNow "result" unwrapping); without a callback, or at
// a path it lacks, the render fails saying why. The config check accepts callback.
// only in inbound_routes.
func TestCallbackNamespace(t *testing.T) {
	t.Parallel()
	d := &wfi.Data{Callback: []byte(`{"sys_id":"9d1e","approval":{"by":"cab","votes":3},"comments":null,"result":{"x":"y"}}`)}
	for name, want := range map[string]string{"callback.sys_id": "9d1e", "callback.approval.by": "cab", "callback.approval.votes": "3", "callback.comments": ""} {
		if got, ok := d.Lookup(name); !ok || got != want {
			t.Errorf("#%s# = %q %v, want %q", name, got, ok, want)
		}
	}
	if _, ok := d.Lookup("callback.x"); ok {
		t.Error("#callback.x# resolved through the result wrapper")
	}
	if _, err := wfi.Render("t", "#callback.nope#", d, wfi.EscapeNone); err == nil || !strings.Contains(err.Error(), `the callback has nothing at "nope"`) {
		t.Errorf("missing path: %v", err)
	}
	if _, err := wfi.Render("t", "#callback.sys_id#", &wfi.Data{}, wfi.EscapeNone); err == nil || !strings.Contains(err.Error(), "callback.<path> has a value in inbound routes only") {
		t.Errorf("no callback: %v", err)
	}
	cfg := &config.Config{Servers: map[string]config.Server{"snow": {}}}
	if why := wfi.CheckPlaceholder("callback.sys_id", cfg, wfi.Context{}); !strings.Contains(why, "only the actions of inbound_routes") {
		t.Errorf("outbound route: %q", why)
	}
	if why := wfi.CheckPlaceholder("callback.sys_id", cfg, wfi.Context{Callback: true}); why != "" {
		t.Errorf("inbound route: %q", why)
	}
}
