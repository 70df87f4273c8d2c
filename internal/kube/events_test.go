package kube

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// eventServer is the events endpoint of an API server: it keeps what it is
// sent.
type eventServer struct {
	mu      sync.Mutex
	created []corev1.Event
	patches []map[string]any
}

func (s *eventServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		var e corev1.Event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.created = append(s.created, e)
	case http.MethodPatch:
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		m["path"] = r.URL.Path
		s.patches = append(s.patches, m)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func newTestRecorder(t *testing.T) (*PodEventRecorder, *eventServer) {
	t.Helper()
	srv := &eventServer{}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	x := NewIndex(Filter{})
	for i := range 2 {
		x.setPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-" + strconv.Itoa(i), UID: types.UID("uid-" + strconv.Itoa(i))}})
	}
	r, err := NewPodEventRecorder(&rest.Config{Host: hs.URL}, &Watcher{Index: x, node: "n1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

// TestPodEventsRateAndSeries: a pod gets 25 distinct Events at once, then
// one per 5 minutes, the rest counted as dropped; a repeat is counted on its
// Event, written at most every 10 s; another pod has its own allowance; an
// unknown pod gets none.
func TestPodEventsRateAndSeries(t *testing.T) {
	r, srv := newTestRecorder(t)
	ctx := t.Context()
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 30 {
		r.record(ctx, PodEvent{Namespace: "shop", Pod: "web-0", Reason: "PolicyKilled", Message: "m" + strconv.Itoa(i)}, t0)
	}
	if len(srv.created) != eventBurst || r.Dropped() != 5 {
		t.Fatalf("30 distinct Events at once: %d created, %d dropped; want %d and 5", len(srv.created), r.Dropped(), eventBurst)
	}
	e := srv.created[0]
	if e.InvolvedObject.UID != "uid-0" || e.InvolvedObject.Kind != "Pod" || e.Type != corev1.EventTypeWarning || e.Count != 1 || e.Source.Host != "n1" {
		t.Errorf("first Event: %+v", e)
	}
	// Repeats of m0: counted, one write per 10 s.
	for i := range 4 {
		r.record(ctx, PodEvent{Namespace: "shop", Pod: "web-0", Reason: "PolicyKilled", Message: "m0"}, t0.Add(time.Duration(i+1)*time.Second))
	}
	if len(srv.patches) != 0 {
		t.Fatalf("repeats within 10 s were written at once: %v", srv.patches)
	}
	r.flush(ctx, t0.Add(11*time.Second))
	if len(srv.patches) != 1 || srv.patches[0]["count"] != float64(5) || srv.patches[0]["path"] != "/api/v1/namespaces/shop/events/"+e.Name {
		t.Fatalf("after the flush: patches %v, want one setting count 5 on %s", srv.patches, e.Name)
	}
	// Another pod has its own burst; an unknown pod is dropped.
	r.record(ctx, PodEvent{Namespace: "shop", Pod: "web-1", Reason: "PolicyDenied", Message: "x"}, t0)
	r.record(ctx, PodEvent{Namespace: "shop", Pod: "gone", Reason: "PolicyDenied", Message: "x"}, t0)
	if len(srv.created) != eventBurst+1 || r.Dropped() != 6 {
		t.Errorf("web-1 and an unknown pod: %d created, %d dropped; want %d and 6", len(srv.created), r.Dropped(), eventBurst+1)
	}
	// Five minutes later web-0 has one new Event again.
	for i := range 2 {
		r.record(ctx, PodEvent{Namespace: "shop", Pod: "web-0", Reason: "PolicyKilled", Message: "late" + strconv.Itoa(i)}, t0.Add(eventRefill+time.Second))
	}
	if len(srv.created) != eventBurst+2 || r.Dropped() != 7 {
		t.Errorf("after 5 minutes: %d created, %d dropped; want %d and 7", len(srv.created), r.Dropped(), eventBurst+2)
	}
}

// TestPolicyStatusSummary: the Loaded condition and loadedNodes count the
// entries of the object's generation only.
func TestPolicyStatusSummary(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name   string
		nodes  []nodeEntry
		loaded int
		status metav1.ConditionStatus
	}{
		{"none yet", nil, 0, metav1.ConditionUnknown},
		{"old generation only", []nodeEntry{{Name: "a", Loaded: true, ObservedGeneration: 1}}, 0, metav1.ConditionUnknown},
		{"two loaded", []nodeEntry{{Name: "a", Loaded: true, ObservedGeneration: 2}, {Name: "b", Loaded: true, ObservedGeneration: 2}}, 2, metav1.ConditionTrue},
		{"one refused", []nodeEntry{{Name: "a", Loaded: true, ObservedGeneration: 2}, {Name: "b", ObservedGeneration: 2, Message: "bad"}}, 1, metav1.ConditionFalse},
	} {
		st := PolicyStatus{Nodes: tc.nodes}
		st.summarize(2, now)
		c := st.Conditions[0]
		if st.LoadedNodes != tc.loaded || c.Status != tc.status || c.ObservedGeneration != 2 || c.Type != ConditionLoaded {
			t.Errorf("%s: loadedNodes %d, condition %+v; want %d and %s", tc.name, st.LoadedNodes, c, tc.loaded, tc.status)
		}
	}
	// The transition time stays while the status does.
	st := PolicyStatus{Nodes: []nodeEntry{{Name: "a", Loaded: true, ObservedGeneration: 2}}}
	st.summarize(2, now)
	st.summarize(2, now.Add(time.Hour))
	if !st.Conditions[0].LastTransitionTime.Time.Equal(now) {
		t.Errorf("lastTransitionTime moved without a transition: %v", st.Conditions[0].LastTransitionTime)
	}
}
