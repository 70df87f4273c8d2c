package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// PolicyStatus is the status of a policy object. Each node's agent writes
// its own entry of Nodes and works out LoadedNodes and the Loaded condition
// again from all entries; an update is based on the latest version of the
// object (optimistic concurrency), so the sum is never of a stale list.
type PolicyStatus struct {
	LoadedNodes int                `json:"loadedNodes"`
	Nodes       []nodeEntry        `json:"nodes,omitempty"`
	Conditions  []metav1.Condition `json:"conditions,omitempty"`
}

// nodeEntry says whether one node enforces the policy.
type nodeEntry struct {
	Name               string      `json:"name"`
	Loaded             bool        `json:"loaded"`
	ObservedGeneration int64       `json:"observedGeneration"`
	Message            string      `json:"message,omitempty"`
	LastUpdateTime     metav1.Time `json:"lastUpdateTime"`
}

func (e nodeEntry) same(o nodeEntry) bool {
	e.LastUpdateTime, o.LastUpdateTime = metav1.Time{}, metav1.Time{}
	return e == o
}

// ConditionLoaded is the condition type of PolicyStatus.
const ConditionLoaded = "Loaded"

// summarize sets LoadedNodes and the Loaded condition from s.Nodes for the
// object's generation: True when every node that reported on it enforces
// it, False when one refused it, Unknown before any reported.
func (s *PolicyStatus) summarize(generation int64, now time.Time) {
	cond := metav1.Condition{Type: ConditionLoaded, ObservedGeneration: generation}
	var failed []string
	s.LoadedNodes = 0
	for _, e := range s.Nodes {
		switch {
		case e.ObservedGeneration != generation:
		case e.Loaded:
			s.LoadedNodes++
		default:
			failed = append(failed, e.Name+": "+e.Message)
		}
	}
	switch {
	case len(failed) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, "NotLoaded"
		cond.Message = fmt.Sprintf("loaded on %d nodes, refused on %d: %s", s.LoadedNodes, len(failed), failed[0])
	case s.LoadedNodes > 0:
		cond.Status, cond.Reason = metav1.ConditionTrue, "Loaded"
		cond.Message = fmt.Sprintf("loaded on %d nodes", s.LoadedNodes)
	default:
		cond.Status, cond.Reason = metav1.ConditionUnknown, "Pending"
		cond.Message = "no node has loaded this generation yet"
	}
	cond.LastTransitionTime = metav1.NewTime(now)
	for _, c := range s.Conditions {
		if c.Type == ConditionLoaded && c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		}
	}
	s.Conditions = []metav1.Condition{cond}
}

// statusWriter writes this node's entries in the background: the agent's
// enforcement never waits on the API server.
type statusWriter struct {
	log    *slog.Logger
	node   string
	client dynamic.Interface
	mu     sync.Mutex
	wanted map[string]wantedStatus // by policyObject.key, not written yet
	// written is the entry last found or written, by policyObject.key: an
	// entry asked for again is not read again.
	written map[string]nodeEntry
	kick    chan struct{}
}

type wantedStatus struct {
	object policyObject
	entry  nodeEntry
}

func newStatusWriter(client dynamic.Interface, node string, log *slog.Logger) *statusWriter {
	return &statusWriter{log: log, node: node, client: client, wanted: map[string]wantedStatus{}, written: map[string]nodeEntry{},
		kick: make(chan struct{}, 1)}
}

// want queues this node's entries of every policy object there is.
func (s *statusWriter) want(all []wantedStatus) {
	s.mu.Lock()
	present := map[string]bool{}
	for _, w := range all {
		key := w.object.key()
		present[key] = true
		if e, ok := s.written[key]; ok && e.same(w.entry) {
			delete(s.wanted, key)
			continue
		}
		s.wanted[key] = w
	}
	for key := range s.written {
		if !present[key] {
			delete(s.written, key)
		}
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// retryEvery is how soon a failed write is tried again.
const retryEvery = 2 * time.Second

func (s *statusWriter) run(ctx context.Context) {
	retry := time.NewTimer(retryEvery)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-retry.C:
		}
		s.mu.Lock()
		batch := s.wanted
		s.wanted = map[string]wantedStatus{}
		s.mu.Unlock()
		for key, w := range batch {
			err := s.write(ctx, w)
			s.mu.Lock()
			_, newer := s.wanted[key]
			switch {
			case err == nil:
				s.written[key] = w.entry
			case !newer:
				s.log.Warn("policy status not written; retrying", "policy", key, "err", err)
				s.wanted[key] = w
			}
			s.mu.Unlock()
		}
		retry.Reset(retryEvery)
	}
}

// write puts w's entry into the object's status, unless it is there.
func (s *statusWriter) write(ctx context.Context, w wantedStatus) error {
	r := s.client.Resource(policyResources[w.object.kind]).Namespace(w.object.namespace)
	for range 5 {
		u, err := r.Get(ctx, w.object.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // deleted: nothing to report on
		}
		if err != nil {
			return err
		}
		if u.GetGeneration() != w.entry.ObservedGeneration {
			return nil // changed since: the agent reports on the new generation
		}
		st, err := statusOf(u)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(st.Nodes, func(e nodeEntry) bool { return e.Name == s.node })
		if i >= 0 && st.Nodes[i].same(w.entry) {
			return nil
		}
		now := time.Now()
		w.entry.LastUpdateTime = metav1.NewTime(now.Truncate(time.Second))
		if i >= 0 {
			st.Nodes[i] = w.entry
		} else {
			st.Nodes = append(st.Nodes, w.entry)
			slices.SortFunc(st.Nodes, func(a, b nodeEntry) int { return strings.Compare(a.Name, b.Name) })
		}
		st.summarize(u.GetGeneration(), now.Truncate(time.Second))
		if err := setStatus(u, st); err != nil {
			return err
		}
		_, err = r.UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: "orb8-agent"})
		if !apierrors.IsConflict(err) {
			return err
		}
		// Another node wrote in between: read it again.
	}
	return fmt.Errorf("status kept changing under this node's writes")
}

func statusOf(u *unstructured.Unstructured) (PolicyStatus, error) {
	var st PolicyStatus
	raw, ok := u.Object["status"]
	if !ok {
		return st, nil
	}
	js, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(js, &st)
	}
	return st, err
}

func setStatus(u *unstructured.Unstructured, st PolicyStatus) error {
	js, err := json.Marshal(st)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return err
	}
	u.Object["status"] = m
	return nil
}
