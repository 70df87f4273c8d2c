// Command orb8 is eBPF-powered observability for Kubernetes and Linux hosts.
package main

import (
	"os"
	"path/filepath"

	"github.com/orb8/orb8/internal/cli"
)

func main() {
	os.Exit(cli.ExecuteAs(filepath.Base(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr))
}
