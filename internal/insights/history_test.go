package insights

import (
	"os"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/insights/promtest"
)

// prom is one real Prometheus serving every generated history, started by
// the first test that needs it; historyEnd is where the histories end.
var prom, historyEnd = promtest.SharedAll()

func TestMain(m *testing.M) {
	code := m.Run()
	prom.Stop()
	os.Exit(code)
}

func source(t *testing.T) Source {
	t.Helper()
	c, err := NewClient(prom.Get(t).URL, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func window(t *testing.T, length time.Duration) Window {
	t.Helper()
	w, err := NewWindow(historyEnd, length, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
