package main

import (
	"strings"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

func TestListenOverrides(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name, cmd           string
		args                []string
		env                 map[string]string
		ingress, admin, err string
	}{
		{name: "file", cmd: "ingress", ingress: ":8000", admin: ":9090"},
		{name: "env", cmd: "ingress", env: map[string]string{EnvIngressListen: "127.0.0.1:8001"}, ingress: "127.0.0.1:8001", admin: ":9090"},
		{name: "flag beats env", cmd: "all", args: []string{"--listen", ":8002"}, env: map[string]string{EnvIngressListen: ":8001"}, ingress: ":8002", admin: ":9090"},
		{name: "admin env", cmd: "dispatcher", env: map[string]string{EnvAdminListen: ":9091", EnvIngressListen: ":8001"}, ingress: ":8000", admin: ":9091"},
		{name: "admin flag beats env", cmd: "notifier", args: []string{"--admin-listen", ":9092"}, env: map[string]string{EnvAdminListen: ":9091"}, ingress: ":8000", admin: ":9092"},
		{name: "admin env not the ingress's", cmd: "ingress", env: map[string]string{EnvAdminListen: ":9091"}, ingress: ":8000", admin: ":9090"},
		{name: "bad flag", cmd: "itsm-sync", args: []string{"--admin-listen", "9091"}, err: `--admin-listen: "9091" is not host:port`},
		{name: "bad env", cmd: "ingress", env: map[string]string{EnvIngressListen: "nope"}, err: `$TRIGGERFLOW_INGRESS_LISTEN: "nope" is not host:port`},
	} {
		fs, f := newServeFlags(tc.cmd)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		cfg := config.Default()
		err := f.applyListen(tc.cmd, cfg, env(tc.env))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || cfg.Ingress.Listen != tc.ingress || cfg.Admin.Listen != tc.admin {
			t.Errorf("%s: ingress %q admin %q (%v), want %q %q", tc.name, cfg.Ingress.Listen, cfg.Admin.Listen, err, tc.ingress, tc.admin)
		}
	}
}
