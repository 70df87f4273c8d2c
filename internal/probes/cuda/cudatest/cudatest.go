// Package cudatest builds the CUDA probe's stand-in libraries (the real
// symbol names and signatures, no GPU work) and the applications that call
// them, for the tests of any package.
package cudatest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CFlags build the stand-ins like the real libraries: every function starts
// with endbr64 (CET), then push (frame pointers).
var CFlags = []string{"-O2", "-fcf-protection=full", "-fno-omit-frame-pointer", "-Wall", "-Werror"}

// Source is the directory of the stand-ins' sources (the cuda package's
// testdata).
func Source() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "testdata")
}

// Build compiles, with CFlags and extra, into a temporary directory: the
// stand-in libcuda.so, libcudart.so (linked against it), libcublasLt.so and
// libcublas.so (over the runtime), the app (testdata/standin/app.c) and
// the kernels app (testdata/standin/kernels.cc, named kernels).
func Build(t testing.TB, extra ...string) string {
	t.Helper()
	src := filepath.Join(Source(), "standin")
	dir := t.TempDir()
	flags := append(append([]string{}, CFlags...), extra...)
	for _, step := range [][]string{
		append(append([]string{}, flags...), "-shared", "-fPIC", "-o", dir+"/libcuda.so", src+"/cuda.c"),
		append(append([]string{}, flags...), "-shared", "-fPIC", "-o", dir+"/libcudart.so", src+"/cudart.c", "-L"+dir, "-lcuda", "-Wl,-rpath,"+dir),
		append(append([]string{}, flags...), "-shared", "-fPIC", "-o", dir+"/libcublasLt.so", src+"/cublasLt.c", "-L"+dir, "-lcudart", "-Wl,-rpath,"+dir),
		append(append([]string{}, flags...), "-shared", "-fPIC", "-o", dir+"/libcublas.so", src+"/cublas.c", "-L"+dir, "-lcublasLt", "-Wl,-rpath,"+dir),
		append(append([]string{}, flags...), "-o", dir+"/app", src+"/app.c", "-ldl", "-lpthread"),
	} {
		Compile(t, "gcc", step...)
	}
	Compile(t, "g++", append(append([]string{}, flags...), "-o", dir+"/kernels", src+"/kernels.cc", "-ldl")...)
	return dir
}

// Compile runs a compiler (gcc, g++) and fails the test with its output.
func Compile(t testing.TB, compiler string, args ...string) {
	t.Helper()
	if out, err := exec.Command(compiler, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", compiler, strings.Join(args, " "), err, out)
	}
}
