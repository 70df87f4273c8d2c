//go:build e2e

package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	pb "github.com/orb8/orb8/api/orb8/v1"
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
	spans := c.watchHTTPSpans(ns)
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
	spans.expectLinked(t, httpOK+httpNotFound)
}

// httpSpans are the trace ids of a namespace's http events, by side, as
// the agent streamed them.
type httpSpans struct {
	mu      sync.Mutex
	clients map[string]string // span id -> trace id
	servers []map[string]any  // the server events' attributes
	err     error             // the stream's end
}

// watchHTTPSpans streams the namespace's http events from the agents until
// the test ends. Asking for them is what makes the probe give each request
// its span: started before the requests, given a moment to subscribe.
func (c *cluster) watchHTTPSpans(ns string) *httpSpans {
	c.t.Helper()
	s := &httpSpans{clients: map[string]string{}}
	agents := c.agents(c.cfg)
	go func() {
		s.err = agents.Watch(c.t.Context(), &pb.WatchEventsRequest{Kinds: []string{"http"}, Filter: &pb.WorkloadFilter{Namespace: ns}, Batch: true},
			func(msg *pb.WatchEventsResponse) error {
				s.mu.Lock()
				defer s.mu.Unlock()
				for _, e := range append(msg.GetBatch().GetEvents(), msg.GetEvent()) {
					a, _ := e.GetAttributes().AsMap()["http"].(map[string]any)
					switch a["direction"] {
					case "client":
						s.clients[fmt.Sprint(a["spanId"])] = fmt.Sprint(a["traceId"])
					case "server":
						s.servers = append(s.servers, a)
					}
				}
				return nil
			})
	}()
	time.Sleep(2 * time.Second)
	return s
}

// expectLinked checks that each of want server requests is the child of a
// client request streamed from the namespace: the client called the
// Service's address, the server saw its pod's, and the agent linked them
// through the node's conntrack table.
func (s *httpSpans) expectLinked(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		servers, clients := len(s.servers), len(s.clients)
		s.mu.Unlock()
		if servers >= want && clients >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.servers) != want || len(s.clients) != want {
		t.Fatalf("%d server and %d client http events streamed, want %d each (stream: %v)", len(s.servers), len(s.clients), want, s.err)
	}
	for i, a := range s.servers {
		parent := fmt.Sprint(a["parentSpanId"])
		if trace, ok := s.clients[parent]; !ok || trace != fmt.Sprint(a["traceId"]) {
			t.Errorf("server request %d (trace %v, parent %v) is no client span's child; client spans: %v", i, a["traceId"], a["parentSpanId"], s.clients)
		}
	}
}
