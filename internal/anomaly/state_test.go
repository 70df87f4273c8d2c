package anomaly

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
)

// TestSaveLoad: what a store saved, another loads back as it was, and
// carries on from it: no re-learning, no anomaly for known items.
func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s := testStore(10, 10)
	id := Identity{Namespace: "shop", OwnerKind: "StatefulSet", Owner: "db", Container: "pg"}
	s.Observe(id, NewBinary, "/usr/bin/postgres", t0)
	s.Observe(id, NewListenPort, "tcp/5432", t0)
	after := t0.Add(time.Hour)
	s.Observe(id, NewBinary, "/bin/sh", after)
	if _, err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	loaded := testStore(10, 10)
	if err := loaded.Load(dir); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Profiles(), loaded.Profiles()) {
		t.Fatalf("saved %+v\nloaded %+v", s.Profiles(), loaded.Profiles())
	}
	later := after.Add(time.Hour)
	if loaded.Observe(id, NewBinary, "/usr/bin/postgres", later) || loaded.Observe(id, NewBinary, "/bin/sh", later) {
		t.Fatal("a known item raised an anomaly after the load")
	}
	if !loaded.Observe(id, NewBinary, "/usr/bin/nc", later) {
		t.Fatal("the loaded profile learns again")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d files, want only %s", len(entries), StateFile)
	}
}

// TestLoadMissing: no state file, no profiles, no error.
func TestLoadMissing(t *testing.T) {
	s := testStore(10, 10)
	if err := s.Load(t.TempDir()); err != nil || len(s.Profiles()) != 0 {
		t.Fatal(err)
	}
}

// TestLoadCorrupt: a corrupt file is a clear error, moved aside, and the
// store starts empty.
func TestLoadCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFile)
	if err := os.WriteFile(path, []byte(`{"version":1,"profiles":[{"identity":{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testStore(10, 10)
	err := s.Load(dir)
	var corrupt *CorruptError
	if !errors.As(err, &corrupt) || !strings.Contains(err.Error(), path) || len(s.Profiles()) != 0 {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatal("the corrupt file was not kept aside")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("the corrupt file is still in place")
	}
}

// TestRestoreBounds: a file saved with larger bounds loads within the
// store's, the excess counted.
func TestRestoreBounds(t *testing.T) {
	big := testStore(10, 10)
	for _, c := range []string{"/a", "/b"} {
		for _, x := range []string{"/1", "/2", "/3"} {
			big.Observe(Identity{Cgroup: c}, NewBinary, x, t0)
		}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(state{Version: stateVersion, Profiles: big.Profiles()}); err != nil {
		t.Fatal(err)
	}
	profiles, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	small := testStore(1, 2)
	small.Restore(profiles)
	_, frozen, dropped, overflow := small.Counts(t0.Add(time.Hour))
	if frozen != 1 || dropped != 1 || overflow[NewBinary] != 1 {
		t.Fatalf("frozen %d dropped %d overflow %v", frozen, dropped, overflow)
	}
}

func TestDecodeRejects(t *testing.T) {
	ok := `{"identity":{"cgroup":"/a"},"firstSeen":"2026-01-01T00:00:00Z","learnUntil":"2026-01-02T00:00:00Z","lastSeen":"2026-01-01T00:00:00Z"`
	for name, doc := range map[string]string{
		"not json":      `nope`,
		"version":       `{"version":2,"profiles":[]}`,
		"unknown field": `{"version":1,"profiles":[],"extra":1}`,
		"kind":          `{"version":1,"profiles":[` + ok + `,"items":{"new_thing":["x"]}}]}`,
		"identity":      `{"version":1,"profiles":[{"identity":{"cgroup":"relative"},"firstSeen":"2026-01-01T00:00:00Z","learnUntil":"2026-01-02T00:00:00Z"}]}`,
		"empty item":    `{"version":1,"profiles":[` + ok + `,"items":{"new_binary":[""]}}]}`,
		"duplicate":     `{"version":1,"profiles":[` + ok + `},` + ok + `}]}`,
		"window":        `{"version":1,"profiles":[{"identity":{"cgroup":"/a"},"firstSeen":"2026-01-02T00:00:00Z","learnUntil":"2026-01-01T00:00:00Z"}]}`,
		"trailing":      `{"version":1,"profiles":[]} {}`,
	} {
		if _, err := Decode(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := Decode(strings.NewReader(`{"version":1,"profiles":[` + ok + `,"items":{"new_binary":["/bin/sh"]}}]}`)); err != nil {
		t.Errorf("valid file: %v", err)
	}
}

// FuzzDecode: no input makes Decode panic, and what it accepts restores
// and saves again to a file that decodes to the same profiles.
func FuzzDecode(f *testing.F) {
	s := testStore(10, 10)
	s.Observe(Identity{Cgroup: "/a"}, NewBinary, "/bin/sh", t0)
	s.Observe(Identity{Namespace: "n", OwnerKind: "Job", Owner: "j", Container: "c"}, NewPeer, "10.0.0.1:80", t0)
	s.Observe(Identity{Cgroup: "/a"}, NewBinary, "/bin/ls", t0.Add(time.Hour))
	w := &cgroup.Workload{Path: "/a"}
	for i := range 3 {
		s.Count(Identity{Cgroup: "/a"}, w, &Sample{Exec: true, DNS: true, QName: "x.example.com", Answered: true, RCode: "NXDOMAIN"}, t0.Add(time.Duration(i)*time.Minute))
	}
	var seed bytes.Buffer
	_ = json.NewEncoder(&seed).Encode(state{Version: stateVersion, Profiles: s.Profiles()})
	f.Add(seed.Bytes())
	f.Add([]byte(`{"version":1,"profiles":[]}`))
	f.Add([]byte(`{"version":1,"profiles":[{"identity":{"cgroup":"/x"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		profiles, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		store := testStore(100, 100)
		store.Restore(profiles)
		var out bytes.Buffer
		if err := json.NewEncoder(&out).Encode(state{Version: stateVersion, Profiles: store.Profiles()}); err != nil {
			t.Fatal(err)
		}
		again, err := Decode(&out)
		if err != nil {
			t.Fatalf("a restored store saved an undecodable file: %v", err)
		}
		if len(again) != len(store.Profiles()) {
			t.Fatalf("%d profiles saved, %d read back", len(store.Profiles()), len(again))
		}
	})
}
