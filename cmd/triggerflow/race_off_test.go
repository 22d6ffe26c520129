//go:build !race

package main_test

// raceBuild: this test binary runs under the race detector (make test-race), and so do the
// triggerflow processes it starts (triggerflowBinary).
const raceBuild = false
