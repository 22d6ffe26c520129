package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret holds a credential read from the environment or a file. It never prints itself:
// String, GoString, MarshalText and LogValue all redact, so a Secret that slips into a log
// line or an error message shows as [REDACTED].
type Secret struct{ value string }

// NewSecret wraps a value (for tests and for values produced at run time).
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret value. Call it only where the value is used.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

func (Secret) String() string               { return "[REDACTED]" }
func (Secret) GoString() string             { return "[REDACTED]" }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[REDACTED]") }
func (Secret) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[REDACTED]")) }

// SecretRef says where a secret lives: an environment variable or a file.
type SecretRef struct {
	Env  string
	File string
}

// IsSet reports whether a source is configured.
func (r SecretRef) IsSet() bool { return r.Env != "" || r.File != "" }

// Resolve reads the secret. Errors name the variable or file, never the value. A file's
// trailing newline (as `kubectl create secret --from-file` and editors leave) is dropped.
func (r SecretRef) Resolve() (Secret, error) {
	switch {
	case r.Env != "" && r.File != "":
		return Secret{}, fmt.Errorf("set either the _env or the _file key, not both")
	case r.Env != "":
		v, ok := os.LookupEnv(r.Env)
		if !ok {
			return Secret{}, fmt.Errorf("environment variable %s is not set", r.Env)
		}
		if v == "" {
			return Secret{}, fmt.Errorf("environment variable %s is empty", r.Env)
		}
		return Secret{value: v}, nil
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return Secret{}, fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Secret{}, fmt.Errorf("secret file %s is empty", r.File)
		}
		return Secret{value: v}, nil
	}
	return Secret{}, fmt.Errorf("no secret source: set the _env or the _file key")
}

// Key is the config key of r for path, the key of the secret without its suffix
// (smtp.password): path_env, or path_file when only the file is set.
func (r SecretRef) Key(path string) string {
	if r.Env == "" && r.File != "" {
		return path + "_file"
	}
	return path + "_env"
}

// ResolveAt is Resolve for the secret of path (see Key): errors name the key, never
// the value.
func (r SecretRef) ResolveAt(path string) (Secret, error) {
	s, err := r.Resolve()
	if err != nil {
		return Secret{}, fmt.Errorf("%s: %w", r.Key(path), err)
	}
	return s, nil
}

// ResolveUser returns a user name set literally (user) or read from the environment
// variable env, as userOrEnv accepts them; path is the literal's key
// (securechange.user), and errors name path_env.
func ResolveUser(path, user, env string) (string, error) {
	if user != "" {
		return user, nil
	}
	s, err := SecretRef{Env: env}.ResolveAt(path)
	return s.Reveal(), err
}

// PasswordRef is where the user's password lives.
func (u User) PasswordRef() SecretRef { return SecretRef{Env: u.PasswordEnv, File: u.PasswordFile} }

// PasswordRef is where the NATS password lives.
func (n NATS) PasswordRef() SecretRef { return SecretRef{Env: n.PasswordEnv, File: n.PasswordFile} }
