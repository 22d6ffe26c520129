package ingress

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/triggerflow/triggerflow/internal/config"
)

// authenticator checks HTTP basic auth against the configured users. Passwords are kept
// only as SHA-256 digests and compared in constant time; every user is compared on every
// request, so the time taken says nothing about which user names exist.
type authenticator struct {
	users []credential
}

type credential struct {
	name [sha256.Size]byte
	pass [sha256.Size]byte
	user string
}

func newAuthenticator(users []config.User) (*authenticator, error) {
	a := &authenticator{}
	for i, u := range users {
		pw, err := u.PasswordRef().Resolve()
		if err != nil {
			return nil, fmt.Errorf("ingress.users[%d].password: %w", i, err)
		}
		a.users = append(a.users, newCredential(u.Name, pw.Reveal()))
	}
	return a, nil
}

// newCredential keeps a user's name and password as digests.
func newCredential(user, password string) credential {
	return credential{name: sha256.Sum256([]byte(user)), pass: sha256.Sum256([]byte(password)), user: user}
}

// check returns the authenticated user name, or an *InputError (401) saying what is wrong.
func (a *authenticator) check(r *http.Request) (string, *InputError) {
	if a == nil || len(a.users) == 0 {
		return "", nil // dev mode: started with --dev and no users
	}
	name, pass, ok := r.BasicAuth()
	if !ok {
		return "", &InputError{Status: http.StatusUnauthorized, Msg: "missing credentials: HTTP basic auth is required"}
	}
	nh, ph := sha256.Sum256([]byte(name)), sha256.Sum256([]byte(pass))
	found := ""
	for i := range a.users {
		u := &a.users[i]
		if subtle.ConstantTimeCompare(nh[:], u.name[:])&subtle.ConstantTimeCompare(ph[:], u.pass[:]) == 1 {
			found = u.user
		}
	}
	if found == "" {
		return "", &InputError{Status: http.StatusUnauthorized, Msg: "wrong user name or password"}
	}
	return found, nil
}
