package kube

import (
	"testing"

	"github.com/orb8/orb8/internal/kube/kubetest"
)

// One etcd + kube-apiserver serves every test of the package.
func TestMain(m *testing.M) { kubetest.Main(m) }
