package main_test

import (
	"os"
	"testing"
)

// TestMain runs the tests, or in a child process of BenchmarkPipeline's floor-3 variant
// (floorStageEnv set) one part of the floor instead (startFloor).
func TestMain(m *testing.M) {
	if stage := os.Getenv(floorStageEnv); stage != "" {
		os.Exit(floorChild(stage))
	}
	os.Exit(m.Run())
}
