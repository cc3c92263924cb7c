package main

import (
	"os"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/startgc"
)

// TestMain turns the collector back on, as main does: the tests run
// commands without main.
func TestMain(m *testing.M) {
	startgc.Done()
	os.Exit(m.Run())
}
