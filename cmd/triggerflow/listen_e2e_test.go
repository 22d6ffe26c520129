package main_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// TestSharedConfigListenOverrides: several commands run on one host from one config file
// whose admin.listen and ingress.listen are taken: --admin-listen and --listen beat
// $TRIGGERFLOW_ADMIN_LISTEN and $TRIGGERFLOW_INGRESS_LISTEN, which beat the file.
func TestSharedConfigListenOverrides(t *testing.T) {
	ns := natstest.StartProcess(t)
	taken := func() string { // an address the file names, held so that using it fails
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	cfgPath := filepath.Join(t.TempDir(), "triggerflow.yaml")
	yaml := fmt.Sprintf(`nats: {url: %q}
admin: {listen: %q}
log: {level: warn}
ingress:
  listen: %q
  users:
    - {name: %s, password_file: %q}
servers:
  snow: {base_url: "https://snow.example"}
`, ns.URL(), taken(), taken(), e2eUser, passwordFile(t))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	a, b, c, d := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	startTriggerflowArgs(t, []string{"dispatcher", "--config", cfgPath, "--admin-listen", a}, a)
	startTriggerflowArgs(t, []string{"itsm-sync", "--config", cfgPath, "--admin-listen", b}, b,
		"TRIGGERFLOW_ADMIN_LISTEN="+taken()) // the flag beats the environment
	startTriggerflowArgs(t, []string{"itsm-sync", "--config", cfgPath}, c, "TRIGGERFLOW_ADMIN_LISTEN="+c)
	startTriggerflowArgs(t, []string{"ingress", "--config", cfgPath}, d,
		"TRIGGERFLOW_INGRESS_LISTEN="+d, "TRIGGERFLOW_ADMIN_LISTEN="+taken()) // admin.listen is not the ingress's
}
