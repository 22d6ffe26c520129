package failure_test

import (
	"testing"

	"github.com/triggerflow/triggerflow/internal/failure"
)

func TestTransientStatus(t *testing.T) {
	for code, want := range map[int]bool{
		200: false, 301: false, 400: false, 401: false, 404: false, 409: false, 422: false,
		408: true, 429: true, 500: true, 502: true, 503: true, 504: true,
	} {
		if got := failure.TransientStatus(code); got != want {
			t.Errorf("TransientStatus(%d) = %v, want %v", code, got, want)
		}
	}
}
