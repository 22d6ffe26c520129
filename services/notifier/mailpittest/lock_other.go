//go:build !unix

package mailpittest

// lockBuild does not serialise builds where flock is not available.
func lockBuild() (unlock func(), err error) { return func() {}, nil }
