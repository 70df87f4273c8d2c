package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
)

func TestRecordOfAnEvent(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	e := &events.Event{Time: at, Kind: events.KindPolicy, Workload: cgroup.Workload{Path: "/a", Namespace: "shop", Pod: "web-1", Container: "nginx"},
		Process: events.Process{PID: 7, PPID: 1, UID: 33, Comm: "nginx"},
		Policy:  &events.PolicyMatch{Policy: "no-nc", Rule: 1, Action: "deny", Mode: "enforce", Operation: "connect", Address: "169.254.169.254", Port: 80, Protocol: "tcp"}}
	line, err := json.Marshal(FromEvent(e, "node-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-12-04T10:00:00Z","node":"node-1","policy":"no-nc","rule":1,"action":"deny","mode":"enforce","operation":"connect",` +
		`"workload":{"namespace":"shop","pod":"web-1","container":"nginx","cgroup":"/a"},"process":{"pid":7,"ppid":1,"uid":33,"comm":"nginx"},` +
		`"target":{"address":"169.254.169.254","port":80,"protocol":"tcp"}}`
	if string(line) != want {
		t.Errorf("record\n got %s\nwant %s", line, want)
	}
}

// TestRotatesPastTheLimit: lines are never split; past the limit the file
// moves to .1 and a new one starts, with every line kept in one or the other.
func TestRotatesPastTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, 1024)
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		if err := l.Write(Record{Policy: "p", Rule: i, Action: "audit", Mode: "monitor"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	cur, old := lines(t, path), lines(t, path+".1")
	// ~100 bytes a line: 30 lines rotate more than once, and each rotation
	// but the last replaced the .1 before it.
	if cur == 0 || old == 0 || cur+old >= n {
		t.Fatalf("%d lines current, %d in .1: want both files in use and the oldest lines rotated away", cur, old)
	}
	for _, f := range []string{path, path + ".1"} {
		st, err := os.Stat(f)
		if err != nil || st.Size() > 1024 {
			t.Errorf("%s: %v, %d bytes", f, err, st.Size())
		}
	}
	// The newest line is in the current file.
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"rule":29`) {
		t.Errorf("newest record not in the current file")
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: line %d: %v", path, n+1, err)
		}
		n++
	}
	return n
}
