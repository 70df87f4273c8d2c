package kube

import (
	"fmt"
	"os"
	"testing"

	"github.com/orb8/orb8/internal/kube/kubetest"
)

// server is one etcd + kube-apiserver shared by this package's tests; nil
// when the binaries are absent (tests then call kubetest.Require and skip).
var server *kubetest.Server

func TestMain(m *testing.M) {
	if kubetest.Missing() == "" {
		var err error
		if server, err = kubetest.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	os.Exit(code)
}
