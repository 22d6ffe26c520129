//go:build !unix

package embedded

import "os"

// lockStore does not lock the store where flock(2) is not available.
func lockStore(string) (*os.File, error) { return nil, nil }
