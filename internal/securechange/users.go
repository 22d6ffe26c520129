package securechange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// maxGroupDepth bounds how deep UserEmails follows groups inside groups.
const maxGroupDepth = 4

// UserEmail reads a SecureChange user's e-mail address (GET {url}/users/{id}.json, whose
// answer is {"user": {…, "email": "…"}}): how the notifier reaches a ticket's requester.
// An id that is a group is an error naming the group (UserEmails resolves its members).
// One attempt; errors are classified like Ticket's (404 and a user without an address
// are permanent).
func (c *Client) UserEmail(ctx context.Context, id string) (string, error) {
	p, err := c.party(ctx, id)
	if err != nil {
		return "", err
	}
	if p.group() {
		return "", failure.Permanent(fmt.Errorf("securechange: user %s is the group %q, not a user: it has no e-mail address of its own (its members' addresses are UserEmails')", id, p.Name))
	}
	if p.Email == "" {
		return "", failure.Permanent(fmt.Errorf("securechange: user %s has no e-mail address", id))
	}
	return p.Email, nil
}

// UserEmails is the addresses of SecureChange user or group id: a user's own address, or
// for a group (a task can be assigned to one: pytos get_sc_user_by_id answers a Group,
// pytos2 a party with "@xsi.type" "group") its members' addresses, each member read
// from users/{member} unless the group lists its address, groups inside groups followed
// (up to 4 deep, each once). Members without an address are left out; a group none of
// whose members has one is a permanent error naming the group. Errors of reading a member
// are returned as they are (a transient one stays transient).
func (c *Client) UserEmails(ctx context.Context, id string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	if err := c.collectEmails(ctx, id, 0, seen, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) collectEmails(ctx context.Context, id string, depth int, seen map[string]bool, out *[]string) error {
	seen[id] = true
	p, err := c.party(ctx, id)
	if err != nil {
		return err
	}
	if !p.group() {
		if p.Email == "" {
			return failure.Permanent(&noAddressError{fmt.Sprintf("securechange: user %s has no e-mail address", id)})
		}
		add(out, p.Email)
		return nil
	}
	before := len(*out)
	for _, m := range p.members() {
		mid := strings.TrimSpace(string(m.ID))
		switch {
		case m.Email != "" && !m.isGroup():
			add(out, m.Email)
		case mid == "" || seen[mid]:
		case m.isGroup() && depth+1 >= maxGroupDepth:
			c.log.Warn("securechange: group inside groups too deep, not followed", "group", id, "member", mid)
		default:
			err := c.collectEmails(ctx, mid, depth+1, seen, out)
			var noAddress *noAddressError
			switch {
			case err == nil:
			case errors.As(err, &noAddress):
				c.log.Debug("securechange: group member without an e-mail address", "group", id, "member", mid)
			default:
				return fmt.Errorf("securechange: group %s %q: member %s: %w", id, p.Name, mid, err)
			}
		}
	}
	if len(*out) == before {
		return failure.Permanent(&noAddressError{fmt.Sprintf("securechange: user %s is the group %q, and none of its %d members has an e-mail address", id, p.Name, len(p.members()))})
	}
	return nil
}

// noAddressError: a user or group without an address (left out of a group's list).
type noAddressError struct{ msg string }

func (e *noAddressError) Error() string { return e.msg }

func add(out *[]string, email string) {
	for _, e := range *out {
		if strings.EqualFold(e, email) {
			return
		}
	}
	*out = append(*out, email)
}

// party is a user or a group as GET users/{id} answers it: {"user":{…}} or {"group":{…}},
// told apart by the root key or "@xsi.type".
type party struct {
	Kind    string          // the root key
	XSIType string          `json:"@xsi.type"`
	ID      json.Number     `json:"id"`
	Name    string          `json:"name"`
	Email   string          `json:"email"`
	Members json.RawMessage `json:"members"` // {"user": one or many} (pytos2: "member" too)
}

func (p party) group() bool {
	return p.Kind == "group" || strings.EqualFold(p.XSIType, "group") || len(p.members()) > 0
}

func (p party) isGroup() bool { return p.Kind == "group" || strings.EqualFold(p.XSIType, "group") }

// members lists the group's members from "members": {"user": …} or {"member": …}, each
// one object or an array.
func (p party) members() []party {
	var coll map[string]json.RawMessage
	if len(p.Members) == 0 || json.Unmarshal(p.Members, &coll) != nil {
		return nil
	}
	var out []party
	for _, key := range []string{"user", "member", "group"} {
		raw, ok := coll[key]
		if !ok {
			continue
		}
		var many []party
		if json.Unmarshal(raw, &many) != nil {
			var one party
			if json.Unmarshal(raw, &one) != nil {
				continue
			}
			many = []party{one}
		}
		for _, m := range many {
			if key == "group" {
				m.Kind = "group"
			}
			m.Email = strings.TrimSpace(m.Email)
			out = append(out, m)
		}
	}
	return out
}

// party reads GET users/{id}.json.
func (c *Client) party(ctx context.Context, id string) (party, error) {
	if !validTicketID(id) { // user ids are numbers too
		return party{}, failure.Permanent(fmt.Errorf("securechange: user id %s is not a number", quoteID(id)))
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, c.base+"/users/"+url.PathEscape(id)+".json", nil)
	if err != nil {
		return party{}, failure.Permanent(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(c.user, c.pass.Reveal())
	resp, err := c.http.Do(req)
	if err != nil {
		return party{}, fmt.Errorf("securechange: user %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound:
		return party{}, failure.Permanent(fmt.Errorf("securechange: user %s not found (404)%s", id, c.quote(body)))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return party{}, fmt.Errorf("securechange: user %s: HTTP %d: %w%s", id, code, ErrAccess, c.quote(body))
	case failure.TransientStatus(code):
		return party{}, fmt.Errorf("securechange: user %s: HTTP %d%s", id, code, c.quote(body))
	case code < 200 || code >= 300:
		return party{}, failure.Permanent(fmt.Errorf("securechange: user %s: HTTP %d%s", id, code, c.quote(body)))
	}
	var root map[string]json.RawMessage
	if err := json.Unmarshal(body, &root); err != nil {
		return party{}, failure.Permanent(fmt.Errorf("securechange: user %s: the answer is not a user: %w", id, err))
	}
	var p party
	switch {
	case root["user"] != nil:
		p.Kind = "user"
		err = json.Unmarshal(root["user"], &p)
	case root["group"] != nil:
		p.Kind = "group"
		err = json.Unmarshal(root["group"], &p)
	default: // the user object itself
		err = json.Unmarshal(body, &p)
	}
	if err != nil {
		return party{}, failure.Permanent(fmt.Errorf("securechange: user %s: the answer is not a user: %w", id, err))
	}
	p.Email = strings.TrimSpace(p.Email)
	return p, nil
}
