package config_test

import (
	"os"
	"testing"

	"github.com/triggerflow/triggerflow/internal/config"
)

// FuzzParse: no config file, however broken, panics the loader; a rejected file always
// says why.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../examples/triggerflow.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{"", "ingress: [\n", "ingress:\n  users:\n    - name: a\n      password: x\n", "nats: {url: 'nats://a:b@c'}", "log: {level: 3}", "streams:\n  duplicates: -1s\n", "streams:\n  limits:\n    SCW_OPS: {max_age: 1h, max_bytes: 10GiB}\n    X: {max_bytes: -3}\n", "&a [*a]",
		"ingress: {publish_timeot: 5s, listen: [1]}\n", "ingress:\n  publish_timeout: 5 seconds or so\n", "routes:\n  - actions: [{itsm: {sever: x}}]\n", "x:\n  y: {z: 1}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := config.Parse("fuzz.yaml", data)
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}
