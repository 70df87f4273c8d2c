//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/orb8/orb8/internal/testutil"
)

// The HTTP test's pods: busybox httpd serves one file; the client fetches it
// and a missing path through the Service, one connection per wget.
const (
	httpOK, httpNotFound = 7, 3
	httpServerScript     = "/bin/busybox mkdir -p /www && echo hello > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"
)

func httpClientScript(addr string, port int) string {
	return fmt.Sprintf(`i=0; while [ $i -lt %d ]; do /bin/busybox wget -q -O /dev/null http://%[3]s:%[4]d/index.html; i=$((i+1)); done
i=0; while [ $i -lt %[2]d ]; do /bin/busybox wget -q -O /dev/null http://%[3]s:%[4]d/missing; i=$((i+1)); done
exec /bin/busybox sleep 3600`, httpOK, httpNotFound, addr, port)
}

// TestClusterHTTPRequestsOnBothPods: a client pod calls a server pod through
// a Service (the chart of the test cluster runs the http probe); the agent
// counts exactly the client's requests, 200s and 404s, on the client pod as
// client and on the server pod as server, by the pods' names.
func TestClusterHTTPRequestsOnBothPods(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	server := c.busybox(ns, "web", httpServerScript, corev1.RestartPolicyNever)
	c.release(server, map[string]string{"namespace": ns, "pod": "web", "container": "web"})
	c.waitListening(server, serverPort)
	svc := c.service(ns, "web", servicePort, serverPort, server)
	client := c.busybox(ns, "fetch", httpClientScript(svc.Spec.ClusterIP, servicePort), corev1.RestartPolicyNever)
	c.release(client, map[string]string{"namespace": ns, "pod": "fetch", "container": "fetch"})

	type check struct {
		pod, direction, status string
		want                   float64
	}
	checks := []check{
		{"fetch", "client", "200", httpOK}, {"fetch", "client", "404", httpNotFound},
		{"web", "server", "200", httpOK}, {"web", "server", "404", httpNotFound},
	}
	got := map[check]float64{}
	defer func() { t.Logf("counted (pod, direction, status): %v", got) }()
	c.eventually(time.Minute, "the HTTP requests on both pods", func() bool {
		m := c.metrics()
		done := true
		for _, ch := range checks {
			labels := map[string]string{"namespace": ns, "pod": ch.pod, "container": ch.pod,
				"direction": ch.direction, "method": "GET", "status_code": ch.status}
			v, _ := testutil.Sample(t, m, "orb8_http_requests_total", labels)
			got[ch] = v
			done = done && v == ch.want
		}
		return done
	})
}
