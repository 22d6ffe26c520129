package securechange

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/triggerflow/triggerflow/pkg/platform/failure"
)

// UserEmail reads a SecureChange user's e-mail address (GET {url}/users/{id}.json, whose
// answer is {"user": {…, "email": "…"}}): how the notifier reaches a ticket's requester
// or step handler. One attempt; errors are classified like Ticket's (404 and a user
// without an address are permanent).
func (c *Client) UserEmail(ctx context.Context, id string) (string, error) {
	if !validTicketID(id) { // user ids are numbers too
		return "", failure.Permanent(fmt.Errorf("securechange: user id %s is not a number", quoteID(id)))
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, c.base+"/users/"+url.PathEscape(id)+".json", nil)
	if err != nil {
		return "", failure.Permanent(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.SetBasicAuth(c.user, c.pass.Reveal())
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("securechange: user %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound:
		return "", failure.Permanent(fmt.Errorf("securechange: user %s not found (404)%s", id, c.quote(body)))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "", fmt.Errorf("securechange: user %s: HTTP %d: %w%s", id, code, ErrAccess, c.quote(body))
	case code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout:
		return "", fmt.Errorf("securechange: user %s: HTTP %d%s", id, code, c.quote(body))
	case code < 200 || code >= 300:
		return "", failure.Permanent(fmt.Errorf("securechange: user %s: HTTP %d%s", id, code, c.quote(body)))
	}
	var u struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
		Email string `json:"email"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		return "", failure.Permanent(fmt.Errorf("securechange: user %s: the answer is not a user: %w", id, err))
	}
	email := strings.TrimSpace(u.User.Email)
	if email == "" {
		email = strings.TrimSpace(u.Email)
	}
	if email == "" {
		return "", failure.Permanent(fmt.Errorf("securechange: user %s has no e-mail address", id))
	}
	return email, nil
}
