package wfi

import (
	"os"
	"sync"
)

// Cache parses each distinct template text once (per escape mode) and reads each
// template file once: the services render the same few templates for every operation.
// The zero value is ready; it is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	tmpls map[cacheKey]*Template
	files map[string]string
}

type cacheKey struct {
	text string
	esc  Escape
}

// Template returns text parsed (Parse), named name the first time it is seen.
func (c *Cache) Template(name, text string, esc Escape) (*Template, error) {
	k := cacheKey{text, esc}
	c.mu.Lock()
	t, ok := c.tmpls[k]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := Parse(name, text, esc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.tmpls == nil {
		c.tmpls = map[cacheKey]*Template{}
	}
	c.tmpls[k] = t
	c.mu.Unlock()
	return t, nil
}

// Render renders text with d through the cache.
func (c *Cache) Render(name, text string, d *Data, esc Escape) ([]byte, error) {
	t, err := c.Template(name, text, esc)
	if err != nil {
		return nil, err
	}
	return t.Render(d)
}

// File returns the contents of a template file, read once.
func (c *Cache) File(path string) (string, error) {
	c.mu.Lock()
	text, ok := c.files[path]
	c.mu.Unlock()
	if ok {
		return text, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.files == nil {
		c.files = map[string]string{}
	}
	c.files[path] = string(b)
	c.mu.Unlock()
	return string(b), nil
}
