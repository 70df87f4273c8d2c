package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// Limits of a PodEventRecorder, as client-go's event recorder has them: a
// pod gets at most eventBurst Events at once, then one per eventRefill; an
// Event repeated within eventSeriesWindow is counted on the first one
// (kubectl shows "x N over ..."), its count written at most every
// eventPatchEvery.
const (
	eventBurst        = 25
	eventRefill       = 5 * time.Minute
	eventSeriesWindow = 10 * time.Minute
	eventPatchEvery   = 10 * time.Second
	eventQueue        = 256
)

// PodEvent is a Kubernetes Event to record on a pod of this node.
type PodEvent struct {
	Namespace, Pod  string
	Reason, Message string
}

func (e PodEvent) key() string { return e.Namespace + "/" + e.Pod + "/" + e.Reason + "/" + e.Message }

// PodEventRecorder creates Warning Events on pods, rate-limited per pod and
// aggregated as client-go's recorder does, without its scheme of every API
// group. Record never blocks; what it cannot record is counted (Dropped).
type PodEventRecorder struct {
	log     *slog.Logger
	client  rest.Interface // core/v1
	index   *Index
	node    string
	queue   chan PodEvent
	dropped atomic.Uint64
	logged  atomic.Bool

	// Owned by run's goroutine.
	series map[string]*eventSeries // by PodEvent.key
	tokens map[string]*podTokens   // by namespace/pod
}

// eventSeries is an Event already created, and the repeats not yet written.
type eventSeries struct {
	name      string
	namespace string
	count     int32
	first     time.Time
	last      time.Time
	written   time.Time
	pending   int32
}

type podTokens struct {
	left float64
	at   time.Time
}

// NewPodEventRecorder records Events through the API server cfg points at,
// naming pods by their UIDs in w.
func NewPodEventRecorder(cfg *rest.Config, w *Watcher, log *slog.Logger) (*PodEventRecorder, error) {
	c, err := RESTClient(agentConfig(cfg, 10*time.Second), corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &PodEventRecorder{
		log: log, client: c, index: w.Index, node: w.node,
		queue:  make(chan PodEvent, eventQueue),
		series: map[string]*eventSeries{}, tokens: map[string]*podTokens{},
	}, nil
}

// Record queues e; a full queue drops it.
func (r *PodEventRecorder) Record(e PodEvent) {
	select {
	case r.queue <- e:
	default:
		r.dropped.Add(1)
	}
}

// Dropped counts Events not recorded: over a pod's rate, a full queue, a
// pod unknown, or a failed write.
func (r *PodEventRecorder) Dropped() uint64 { return r.dropped.Load() }

// Run records queued Events until ctx ends.
func (r *PodEventRecorder) Run(ctx context.Context) {
	flush := time.NewTicker(eventPatchEvery)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-r.queue:
			r.record(ctx, e, time.Now())
		case now := <-flush.C:
			r.flush(ctx, now)
		}
	}
}

func (r *PodEventRecorder) record(ctx context.Context, e PodEvent, now time.Time) {
	if s := r.series[e.key()]; s != nil && now.Sub(s.first) < eventSeriesWindow {
		s.pending++
		s.last = now
		if now.Sub(s.written) >= eventPatchEvery {
			r.patch(ctx, s, now)
		}
		return
	}
	if !r.take(e.Namespace+"/"+e.Pod, now) {
		r.dropped.Add(1)
		return
	}
	uid := r.index.PodAPIUID(e.Namespace, e.Pod)
	if uid == "" {
		r.dropped.Add(1)
		return
	}
	ts := metav1.NewTime(now)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      e.Pod + "." + strconv.FormatInt(now.UnixNano(), 16),
			Namespace: e.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: e.Namespace, Name: e.Pod, UID: types.UID(uid)},
		Reason:         e.Reason,
		Message:        e.Message,
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "orb8-agent", Host: r.node},
		FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
		ReportingController: "orb8.dev/agent",
		ReportingInstance:   "orb8-agent-" + r.node,
	}
	if err := r.client.Post().Namespace(e.Namespace).Resource("events").Body(ev).Do(ctx).Error(); err != nil {
		r.failed(err, 1)
		return
	}
	r.series[e.key()] = &eventSeries{name: ev.Name, namespace: e.Namespace, count: 1, first: now, last: now, written: now}
}

// take spends one of a pod's tokens, if it has one.
func (r *PodEventRecorder) take(pod string, now time.Time) bool {
	t := r.tokens[pod]
	if t == nil {
		t = &podTokens{left: eventBurst, at: now}
		r.tokens[pod] = t
	}
	t.left = min(eventBurst, t.left+now.Sub(t.at).Seconds()/eventRefill.Seconds())
	t.at = now
	if t.left < 1 {
		return false
	}
	t.left--
	return true
}

// flush writes pending repeats, and forgets series past their window and
// pods with a full bucket.
func (r *PodEventRecorder) flush(ctx context.Context, now time.Time) {
	for key, s := range r.series {
		if s.pending > 0 {
			r.patch(ctx, s, now)
		}
		if now.Sub(s.first) >= eventSeriesWindow && s.pending == 0 {
			delete(r.series, key)
		}
	}
	for pod, t := range r.tokens {
		if t.left+now.Sub(t.at).Seconds()/eventRefill.Seconds() >= eventBurst {
			delete(r.tokens, pod)
		}
	}
}

// patch adds a series' pending repeats to its Event's count.
func (r *PodEventRecorder) patch(ctx context.Context, s *eventSeries, now time.Time) {
	body, _ := json.Marshal(map[string]any{"count": s.count + s.pending, "lastTimestamp": metav1.NewTime(s.last)})
	err := r.client.Patch(types.MergePatchType).Namespace(s.namespace).Resource("events").Name(s.name).Body(body).Do(ctx).Error()
	if err != nil {
		r.failed(err, uint64(s.pending))
	} else {
		s.count += s.pending
	}
	s.pending, s.written = 0, now
}

// failed counts n Events lost to err, and logs the first failure.
func (r *PodEventRecorder) failed(err error, n uint64) {
	r.dropped.Add(n)
	if !r.logged.Swap(true) {
		r.log.Warn("kubernetes event not recorded; later failures are counted in orb8_kube_events_dropped_total", "err", fmt.Sprint(err))
	}
}
