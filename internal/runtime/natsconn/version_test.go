package natsconn

import (
	"strings"
	"testing"
)

func TestCheckServerVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"2.15.2": true, "2.11.0": true, "v2.12.1": true, "3.0.0": true, "2.11.0-RC.1": true,
		"2.10.29": false, "2.9.0": false, "1.4.1": false,
		"": true, "dev": true, // unreadable: not refused
	} {
		err := CheckServerVersion(v)
		if (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", v, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "needs 2.11 or newer") {
			t.Errorf("%q: %v does not say what is needed", v, err)
		}
	}
}
