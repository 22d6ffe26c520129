package ingress

import (
	"net/http"
	"path"
	"strings"
)

// cleanPath returns r with its URL path cleaned the way http.ServeMux cleans it before
// matching (duplicate slashes, "." and ".." removed, a trailing slash kept), so that the
// mux routes it instead of answering with a redirect. A redirect would break the seed
// mediator: written with ENDPOINT=/trigger_file it posts to HOST//trigger_file, curl does not
// follow a 307 without -L, and its python step fails on the empty body. r is returned as
// is when its path is already clean.
func cleanPath(r *http.Request) *http.Request {
	p := cleanURLPath(r.URL.Path)
	raw := r.URL.RawPath
	if raw != "" {
		raw = cleanURLPath(raw)
	}
	if p == r.URL.Path && raw == r.URL.RawPath {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = p, raw
	r2.URL = &u
	return r2
}

// cleanURLPath is ServeMux's cleaning of one path.
func cleanURLPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}
