package outbound

import (
	"cmp"
	"slices"
	"sync"
)

// maxRecentSecrets bounds the tokens remembered for redaction (tokens rotate, so the list
// would otherwise grow for the life of the process).
const maxRecentSecrets = 32

// redactor holds the literal secrets of one server (passwords, tokens, client secrets,
// basic-auth base64) so excerpts and messages can strip them.
type redactor struct {
	mu     sync.Mutex
	recent []string // oldest first
	sorted []string // longest first (a secret that contains another goes first)
}

func (r *redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, s := range secrets {
		if s == "" || slices.Contains(r.recent, s) {
			continue
		}
		r.recent = append(r.recent, s)
		if len(r.recent) > maxRecentSecrets {
			r.recent = slices.Delete(r.recent, 0, 1)
		}
		changed = true
	}
	if changed {
		r.sorted = slices.Clone(r.recent)
		slices.SortFunc(r.sorted, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	}
}

// list is every remembered secret, longest first; callers must not modify it.
func (r *redactor) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sorted
}
