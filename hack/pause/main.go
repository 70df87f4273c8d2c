// Command pause is the sandbox ("pause") container of orb8's test cluster:
// it holds a pod's namespaces open, reaps orphans as PID 1, and exits on
// SIGTERM or SIGINT. No registry is reachable here, so hack/cluster.sh builds
// it statically and imports it as registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for { // reap every exited child
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
