package config_test

import (
	"errors"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// TestProblemConcerns: each service stops only on the parts it reads.
func TestProblemConcerns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path string
		want []string // the services it concerns
	}{
		{"", config.Services},
		{"nats.tls.ca_file", config.Services},
		{"log.level", config.Services},
		{"ingress.users[0].password_env", []string{"ingress"}},
		{"smtp.tls_config.ca_file", []string{"notifier"}},
		{"notifications.on_failure", []string{"notifier"}},
		{"securechange.password_env", []string{"dispatcher", "itsm-sync", "notifier"}},
		{"servers.snow.auth.basic.password_env", []string{"dispatcher", "itsm-sync"}},
		{"itsm_sync.retry.attempts", []string{"itsm-sync"}},
		{"itsm_sync.placeholders.x", []string{"dispatcher", "itsm-sync", "notifier"}},
		{"routes[2].when", []string{"dispatcher"}},
		{"routes[2].on_failure", []string{"dispatcher", "notifier"}},
		{"admin.listen", []string{"dispatcher", "itsm-sync", "notifier"}},
		{"admin.pprof", []string{"ingress", "dispatcher", "itsm-sync", "notifier"}},
	} {
		p := &config.Problem{Path: tc.path}
		for _, s := range config.Services {
			want := false
			for _, w := range tc.want {
				want = want || w == s
			}
			if got := p.Concerns(s); got != want {
				t.Errorf("%q concerns %s: %v, want %v", tc.path, s, got, want)
			}
		}
	}
}

// TestLoadMarksSecretsAndEmptyFiles: problems reading a secret or with its value are
// marked Secret (and only those); a file with nothing in it is a problem.
func TestLoadMarksSecretsAndEmptyFiles(t *testing.T) {
	t.Setenv("TF_SCOPE_PW", "hunter2")
	t.Setenv("TF_SCOPE_USER_COLON", "a:b")
	cert, key := writeFile(t, "cert.pem", "x"), writeFile(t, "key.pem", "y")
	p := writeFile(t, "c.yaml", "ingress:\n  users:\n    - {name: a, password_env: TF_SCOPE_UNSET}\n    - {name: b}\n"+
		"  tls: {cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem}\n"+
		"securechange:\n  url: https://u:hunter2@sc.example\n  user_env: TF_SCOPE_USER_COLON\n  password_env: TF_SCOPE_PW\n"+
		"  tls: {cert_file: "+cert+", key_file: "+key+"}\n")
	_, err := config.Load(p)
	var ps *config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want problems, got %v", err)
	}
	secret := map[string]bool{}
	for _, pr := range ps.List {
		secret[pr.Path] = pr.Secret
	}
	for path, want := range map[string]bool{
		"ingress.users[0].password_env": true,  // not set
		"ingress.users[1].password_env": false, // no source: a mistake in the file
		"ingress.tls.key_file":          true,
		"ingress.tls.cert_file":         false,
		"securechange.url":              false, // credentials in the file
		"securechange.user_env":         true,  // the variable's value has a colon
		"securechange.tls":              true,  // the key file does not go with the certificate
	} {
		if got, ok := secret[path]; !ok || got != want {
			t.Errorf("%s: secret %v (reported %v), want %v; problems %v", path, got, ok, want, ps)
		}
	}
	for _, text := range []string{"", "\n\n", "# nothing yet\n"} {
		_, err := config.Load(writeFile(t, "empty.yaml", text))
		if !errors.As(err, &ps) || len(ps.List) != 1 || ps.List[0].Msg != "the file is empty: it configures nothing (see examples/triggerflow.yaml)" {
			t.Errorf("%q: %v", text, err)
		}
	}
}
