package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

type dirUpdate struct {
	policies []Policy
	errs     map[string]error
}

func TestWatchDir(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan dirUpdate, 16)
	done := make(chan error, 1)
	go func() {
		done <- WatchDir(ctx, dir, func(policies []Policy, errs map[string]error) {
			updates <- dirUpdate{policies, errs}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchDir returned %v", err)
		}
	}()
	file := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(file(name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// expect waits for the next update, at most 2 s, and checks it.
	expect := func(step string, want []Policy, wantErrs map[string]string) {
		t.Helper()
		select {
		case u := <-updates:
			if !reflect.DeepEqual(u.policies, want) {
				t.Fatalf("%s: policies\n got %#v\nwant %#v", step, u.policies, want)
			}
			got := map[string]string{}
			for f, err := range u.errs {
				got[f] = err.Error()
			}
			if fmt.Sprint(got) != fmt.Sprint(wantErrs) {
				t.Fatalf("%s: errors\n got %q\nwant %q", step, got, wantErrs)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: no update within 2 s", step)
		}
	}
	none := map[string]string{}

	expect("start, empty", nil, none)

	write("notes.txt", minimal("txt"))
	if err := os.Symlink("nowhere", file(".#a.yaml")); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		t.Fatalf("update for files that are not policies: %+v", u)
	case <-time.After(1500 * time.Millisecond):
	}

	write("a.yaml", minimal("a"))
	a := auditSh(KindCluster, "a", "", file("a.yaml"))
	expect("good file", []Policy{a}, none)

	write("b.yml", minimal("b")+"---\n"+header+"metadata: {name: b2}\nspec: {rules: [{dns: {names: [x]}, action: kill}]}\n")
	expect("bad file", []Policy{a}, map[string]string{file("b.yml"): `doc 2: spec.rules[0].action: "kill" is not one of audit`})

	write("b.yml", minimal("b"))
	b := auditSh(KindCluster, "b", "", file("b.yml"))
	expect("fixed", []Policy{a, b}, none)

	write("c.yaml", minimal("c")+"---\n"+minimal("a"))
	expect("duplicate", []Policy{a, b}, map[string]string{file("c.yaml"): "ClusterSecurityPolicy a is already defined in " + file("a.yaml")})

	if err := os.Remove(file("a.yaml")); err != nil {
		t.Fatal(err)
	}
	expect("removed", []Policy{b, auditSh(KindCluster, "c", "", file("c.yaml")), auditSh(KindCluster, "a", "", file("c.yaml"))}, none)

	if err := os.Rename(file("c.yaml"), file("c.yaml.off")); err != nil {
		t.Fatal(err)
	}
	expect("renamed away", []Policy{b}, none)

	if err := os.Mkdir(file("x.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	expect("directory named like a policy", []Policy{b}, map[string]string{file("x.yaml"): "not a regular file"})
	if err := os.Remove(file("x.yaml")); err != nil {
		t.Fatal(err)
	}
	expect("directory removed again", []Policy{b}, none)

	// A Kubernetes ConfigMap volume: the file is a link through ..data,
	// which is swapped for a new directory on update.
	for _, d := range []string{"..v1", "..v2"} {
		if err := os.Mkdir(file(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("..v1/d.yaml", minimal("d1"))
	write("..v2/d.yaml", minimal("d2"))
	if err := os.Symlink("..v1", file("..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/d.yaml", file("d.yaml")); err != nil {
		t.Fatal(err)
	}
	expect("configmap", []Policy{b, auditSh(KindCluster, "d1", "", file("d.yaml"))}, none)
	if err := os.Symlink("..v2", file("..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file("..data_tmp"), file("..data")); err != nil {
		t.Fatal(err)
	}
	expect("configmap updated", []Policy{b, auditSh(KindCluster, "d2", "", file("d.yaml"))}, none)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	expect("directory removed", nil, map[string]string{dir: "open " + dir + ": no such file or directory"})
}

func TestWatchDirMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	err := WatchDir(context.Background(), dir, func([]Policy, map[string]error) { t.Error("onChange called") })
	if want := "policy directory: open " + dir + ": no such file or directory"; err == nil || err.Error() != want {
		t.Fatalf("WatchDir: %v, want %s", err, want)
	}
}
