package securechange_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/triggerflow/triggerflow/internal/failure"
	"github.com/triggerflow/triggerflow/internal/securechange/securechangetest"
)

// TestUserEmails: an assignee id can be a user or a group (pytos get_sc_user_by_id); a
// group's addresses are its members', groups inside groups followed; a group without
// any is a permanent error naming it.
func TestUserEmails(t *testing.T) {
	t.Parallel()
	sim := securechangetest.New(t)
	sim.PutUser("45", "r.smith", "r.smith@example.com")
	sim.PutUser("46", "b.jones", "b.jones@example.com")
	sim.PutUser("47", "svc-robot", "")
	sim.PutGroup("49", "Approvers", "45", "47", "50")
	sim.PutGroup("50", "Night shift", "46", "45")
	sim.PutGroup("51", "Solo", "46")
	sim.PutGroup("52", "Robots", "47")
	sim.PutGroup("53", "Empty")
	sim.PutGroup("54", "Ghosts", "98")
	cl := newClient(t, sim.Config())
	ctx := t.Context()

	if got, err := cl.UserEmail(ctx, "45"); err != nil || got != "r.smith@example.com" {
		t.Errorf("UserEmail(45) = %q, %v", got, err)
	}
	for id, want := range map[string][]string{
		"45": {"r.smith@example.com"},
		"49": {"r.smith@example.com", "b.jones@example.com"}, // 47 has none; 50 nested, 45 once
		"51": {"b.jones@example.com"},                        // one member: an object, not an array
	} {
		got, err := cl.UserEmails(ctx, id)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("UserEmails(%s) = %q, %v; want %q", id, got, err, want)
		}
	}

	_, err := cl.UserEmail(ctx, "49")
	wantPermanent(t, err, "user 49", `group "Approvers"`, "no e-mail address")
	_, err = cl.UserEmails(ctx, "52")
	wantPermanent(t, err, "user 52", `group "Robots"`, "none of its 1 members has an e-mail address")
	_, err = cl.UserEmails(ctx, "53")
	wantPermanent(t, err, "user 53", `group "Empty"`, "none of its 0 members")
	_, err = cl.UserEmails(ctx, "47")
	wantPermanent(t, err, "user 47", "has no e-mail address")
	_, err = cl.UserEmails(ctx, "99")
	wantPermanent(t, err, "user 99", "not found (404)")

	// A member that cannot be read: the error names the group and the member.
	_, err = cl.UserEmails(ctx, "54")
	wantPermanent(t, err, `group 54 "Ghosts": member 98`, "user 98 not found (404)")
	// SecureChange unavailable: transient.
	sim.FailNext(1, http.StatusServiceUnavailable, nil)
	if _, err := cl.UserEmails(ctx, "51"); err == nil || failure.IsPermanent(err) {
		t.Errorf("UserEmails(51) with SecureChange down: %v, want a transient error", err)
	}
}
