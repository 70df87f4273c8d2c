package testutil

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
)

// helperEnv names the helper a re-executed test binary runs.
const helperEnv = "ORB8_TEST_HELPER"

// Helpers is TestMain for packages whose tests run helper processes: the
// test binary itself, re-executed (by HelperCommand or Cgroup.Helper) with
// a helper's name, which runs that helper with its arguments and exits 0,
// or 1 with the error on stderr. Otherwise it runs the tests.
func Helpers(m *testing.M, helpers map[string]func(args []string) error) {
	name := os.Getenv(helperEnv)
	if name == "" {
		os.Exit(m.Run())
	}
	run := helpers[name]
	if run == nil {
		fmt.Fprintf(os.Stderr, "no test helper %q\n", name)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil { // after -test.run=^$
		fmt.Fprintf(os.Stderr, "test helper %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// HelperCommand is the test binary as helper name with args (see Helpers);
// its stderr is the test's. Add to it (Env, ExtraFiles) and start it as any
// command, or with StartPiped.
func HelperCommand(name string, args ...string) *exec.Cmd {
	return helperCommand(exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...), name)
}

// Helper is HelperCommand started inside the cgroup (Command).
func (cg *Cgroup) Helper(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return helperCommand(cg.Command(t, os.Args[0], append([]string{"-test.run=^$"}, args...)...), name)
}

func helperCommand(cmd *exec.Cmd, name string) *exec.Cmd {
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// Piped is a started process with its stdin and stdout piped.
type Piped struct {
	Cmd    *exec.Cmd
	Stdin  io.WriteCloser
	Stdout *bufio.Reader
}

// StartPiped starts cmd with its stdin and stdout piped, failing the test if
// it cannot. When the test ends, stdin is closed and the process killed and
// waited for.
func StartPiped(t testing.TB, cmd *exec.Cmd) *Piped {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &Piped{Cmd: cmd, Stdin: stdin, Stdout: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		p.Stdin.Close()
		p.Cmd.Process.Kill()
		p.Cmd.Wait()
	})
	return p
}

// Expect reads the process's next line and fails the test unless it is want.
func (p *Piped) Expect(t testing.TB, want string) {
	t.Helper()
	if line, err := p.Stdout.ReadString('\n'); err != nil || line != want+"\n" {
		t.Fatalf("%s said %q (%v), want %q", p.Cmd.Path, line, err, want)
	}
}
