package series

import (
	"hash/maphash"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orb8/orb8/internal/cgroup"
)

// Owners names the controller of a pod (kube.Index). Version changes
// whenever an answer may have changed, but from OwnerPending, so that a
// collection asks only about pods whose owner it does not know.
type Owners interface {
	PodOwner(namespace, pod string) (kind, name string, state OwnerState)
	Version() uint64
}

// OwnerState says how far Owners knows a pod's owner.
type OwnerState uint8

const (
	OwnerUnknown OwnerState = iota // the pod is not known
	// OwnerPending: the pod is known, its owner may still change (a
	// ReplicaSet whose Deployment is not known yet): the answer names its
	// controller. Its series are held back until it is known.
	OwnerPending
	OwnerKnown
)

// Shaper applies a Shaping to collectors on their way out of the agent.
// Aggregation happens once per collection over what the probes collected
// (never per event): series of the same aggregate are summed. Counters and
// histograms stay monotonic while workloads come and go: what a workload
// counted before it went away (or before its counter restarted, or before
// it moved to another aggregate, a pod whose owner became known) stays in
// its aggregate's carried-over base, which outlives the aggregate's last
// workload by grace.
type Shaper struct {
	wrapped    []*shaped
	ownerCache ownerCache
	shaping    Shaping
	owners     Owners
	grace      time.Duration
	now        func() time.Time
}

// NewShaper returns a shaper of s; owners names pods' controllers for
// LevelOwner (nil: none known), grace is how long an aggregate without
// workloads keeps its carried-over counts.
func NewShaper(s Shaping, owners Owners, grace time.Duration) *Shaper {
	return &Shaper{shaping: s, owners: owners, grace: grace, now: time.Now}
}

// UseOwners names pods' controllers with o from now on; call it before
// the first collection.
func (sh *Shaper) UseOwners(o Owners) { sh.owners = o }

// Wrap returns c as the shaping exports it: c itself when the shaping
// changes none of its families.
func (sh *Shaper) Wrap(c prometheus.Collector) prometheus.Collector {
	w := &shaped{c: c, sh: sh, plans: map[*prometheus.Desc]*plan{}}
	changed := false
	for _, d := range Describe(c) {
		name := DescName(d)
		switch wd := workloadFamily(name); {
		case !sh.shaping.enabled(name):
			w.plans[d] = &plan{}
			changed = true
		case wd != nil && wd.Desc == d && !sh.shaping.shapeOf(name).identity():
			f := newFamily(wd, sh.shaping.shapeOf(name))
			w.plans[d] = &plan{family: f}
			w.families = append(w.families, f)
			w.descs = append(w.descs, f.out.Desc)
			changed = true
		default:
			w.descs = append(w.descs, d)
		}
	}
	if !changed {
		return c
	}
	sh.wrapped = append(sh.wrapped, w)
	return w
}

// Settle collects every collector whose families the shaper aggregates,
// for nobody: the counts of workloads about to be forgotten reach their
// aggregates even when no scrape came since they ended. A collector that
// panics is skipped (scrapes report it).
func (sh *Shaper) Settle() {
	ch := make(chan prometheus.Metric, 256)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	for _, w := range sh.wrapped {
		if len(w.families) > 0 {
			func() {
				defer func() { _ = recover() }()
				w.Collect(ch)
			}()
		}
	}
	close(ch)
	<-done
}

// Describe lists what c describes.
func Describe(c prometheus.Collector) []*prometheus.Desc {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var out []*prometheus.Desc
	for d := range ch {
		out = append(out, d)
	}
	return out
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]*)"`)

// DescName is the metric name of d ("" for an invalid descriptor).
func DescName(d *prometheus.Desc) string {
	if m := fqNameRE.FindStringSubmatch(d.String()); m != nil {
		return m[1]
	}
	return ""
}

// plan is what happens to a descriptor's series: left out (family nil) or
// aggregated into family.
type plan struct{ family *family }

// shaped is a collector under a shaping.
type shaped struct {
	c        prometheus.Collector
	sh       *Shaper
	descs    []*prometheus.Desc
	plans    map[*prometheus.Desc]*plan
	families []*family

	// mu makes collections one at a time: each compares its values with
	// the previous one's.
	mu  sync.Mutex
	gen uint64
}

// Describe implements prometheus.Collector.
func (w *shaped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range w.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector (a panic of the collector is
// raised again: collectEach).
func (w *shaped) Collect(ch chan<- prometheus.Metric) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	c := &collection{sh: w.sh, gen: w.gen}
	if w.sh.owners != nil {
		c.version = w.sh.owners.Version()
	}
	for _, f := range w.families { // after a collection that panicked, start over
		f.next, f.cursor, f.gaugesSeen = f.next[:0], 0, 0
	}
	collectEach(w.c, &rowSink{take: func(r *Row) { w.takeRow(r, c, ch) }, unordered: true}, func(m prometheus.Metric) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch p := w.plans[m.Desc()]; {
		case p == nil:
			ch <- m
		case p.family != nil:
			p.family.add(m, c)
		}
	})
	now := w.sh.now()
	for _, f := range w.families {
		f.emit(ch, w.gen, now, w.sh.grace)
	}
}

// hashSeed makes hashes of label values unpredictable to workloads that
// name their own cgroups: two series collide with a chance of 2^-64.
var hashSeed = maphash.MakeSeed()

// hashOf identifies a series by its label values, without allocating.
func hashOf(values []string) uint64 {
	var h maphash.Hash
	h.SetSeed(hashSeed)
	hashValues(&h, values)
	return h.Sum64()
}

// hashValues writes values to h as hashOf hashes them.
func hashValues(h *maphash.Hash, values []string) {
	for _, v := range values {
		maphash.WriteComparable(h, len(v))
		h.WriteString(v)
	}
}

// family is one per-workload family under a shape, with what it carries
// over between collections.
type family struct {
	src, out *Desc
	shape    shape
	// keep are the indexes of the source's extra labels that stay.
	keep []int
	// sources are the series of a counter or histogram family as collected,
	// by the hash of their cgroup and extra labels (a gauge needs none).
	sources map[uint64]*source
	aggs    map[uint64]*aggregate // by the hash of their label values
	// gauges are a gauge family's aggregates by the hash of a series'
	// names, the owners' version, cgroup and extra labels (take's named
	// and h), for rows whose names stay: no labels made or looked up. Each
	// was taken in the collection seen; gaugesSeen counts them.
	gauges     map[uint64]*gaugeSlot
	gaugesSeen int
	// order is the sources in the order the last collection sent them, and
	// next this collection's so far: collectors send in the same order
	// every time, so most sources are found at order[cursor].
	order, next []*source
	cursor      int
	// aggList is every aggregate, sorted by label values unless sorted is
	// false (one was added).
	aggList []*aggregate
	sorted  bool
	buf     []string // for outLabels, reused
}

// source is one series of a counter or histogram as collected: ~100 bytes.
type source struct {
	hash uint64
	agg  *aggregate
	// offset is what the source had counted when it joined agg: its part
	// of agg is last - offset.
	offset, last tally
	seen         uint64
	held         bool // an unnamed pod cgroup, in no aggregate yet
	// named is the take that last chose agg (0: the labels were looked at).
	named uint64
}

// gaugeSlot is where a gauge series went last.
type gaugeSlot struct {
	agg  *aggregate
	seen uint64
}

// aggregate is one exported series.
type aggregate struct {
	hash   uint64
	labels []string // in out's label order
	// cur is this collection's sum over live sources; base what sources
	// that went away (or restarted, or moved) had counted.
	cur, base tally
	hasCur    bool
	seen      uint64 // collection of the last live source
	lastLive  time.Time
}

func newFamily(src *Desc, sh shape) *family {
	workload := len(LevelCgroup.LabelNames())
	names := sh.level.LabelNames()
	f := &family{src: src, shape: sh, sources: map[uint64]*source{}, aggs: map[uint64]*aggregate{}, gauges: map[uint64]*gaugeSlot{}}
	for i, l := range src.labels[workload:] {
		if !slices.Contains(sh.drop, l) && !slices.Contains(names, l) {
			f.keep = append(f.keep, workload+i)
			names = append(names, l)
		}
	}
	f.out = newDesc(src.name, src.help, names)
	f.out.bounds, f.out.combine = src.bounds, src.combine
	return f
}

// ownerCache is what Owners said about pods while their Version stays,
// by the hash of the pod's namespace and name: each collector asks once
// per pod, collectors in parallel, and a hash is cheaper to look up than
// the two strings.
type ownerCache struct {
	mu      sync.RWMutex
	version uint64
	byPod   map[uint64]ownerAnswer
}

type ownerAnswer struct {
	kind, name string
	state      OwnerState
}

// owner asks owners about a pod (version: theirs at this collection), once
// per pod while their version stays; version 0 (unknown) asks every time.
func (sh *Shaper) owner(namespace, pod string, version uint64) (a ownerAnswer) {
	if sh.owners == nil {
		return a
	}
	if version == 0 {
		a.kind, a.name, a.state = sh.owners.PodOwner(namespace, pod)
		return a
	}
	h := hashOf([]string{namespace, pod})
	c := &sh.ownerCache
	c.mu.RLock()
	a, found := c.byPod[h]
	found = found && c.version == version
	c.mu.RUnlock()
	if found {
		return a
	}
	a.kind, a.name, a.state = sh.owners.PodOwner(namespace, pod)
	if a.state == OwnerPending { // may become known without a change of version
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.version < version || c.byPod == nil:
		c.version, c.byPod = version, map[uint64]ownerAnswer{}
	case c.version > version: // a collection that began before a change
		return a
	}
	c.byPod[h] = a
	return a
}

// takeRow takes a row whole (Rows): its cgroup hashed and its pod's owner
// asked once, no sample made of a series that is aggregated. It runs in
// the collector's goroutine, beside the one taking its other metrics.
func (w *shaped) takeRow(r *Row, c *collection, ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !r.hashed {
		r.valid = validUTF8(r.labels)
		r.cgroupHash, r.namesHash = workloadHashes(r.labels)
	}
	plain := r.cgroupHash // the source hash of a series without extra labels
	var named uint64      // 0 while owners may answer otherwise any time
	if c.version != 0 || c.sh.owners == nil {
		named = maphash.Comparable(hashSeed, [2]uint64{r.namesHash, c.version}) | 1
	}
	for i := range r.sent {
		s := &r.sent[i]
		p := c.plan(w, i, s.d)
		extra := r.extras[s.from:s.to]
		switch {
		case p == nil:
			ch <- r.metric(s)
			continue
		case p.family == nil:
			continue
		case !r.sentFast(s):
			// As a sample, which client_golang makes (and rejects) as it
			// always did.
			p.family.add(r.metric(s), c)
			continue
		}
		labels := r.labels
		if len(extra) > 0 {
			labels = append(append(c.labels[:0], r.labels...), extra...)
			c.labels = labels
		}
		h := sourceHash(plain, extra)
		v := tally{kind: s.kind, v: s.value}
		if s.hist != nil {
			v = tally{log2: s.hist}
		}
		p.family.take(labels, h, named, v, c)
	}
}

// collection is one collection of a shaped collector.
type collection struct {
	// mu makes the collector's rows and its other metrics, taken in two
	// goroutines, one at a time.
	mu      sync.Mutex
	labels  []string // for takeRow, reused
	sh      *Shaper
	gen     uint64
	version uint64 // of the owners
	// lastPod is the pod asked about last and last its answer: a
	// workload's series come one after another.
	lastPod [2]string
	last    ownerAnswer
	asked   bool
	// plans are the plans of the last row's series by their place in it.
	plans []rowPlan
}

// rowPlan is the plan of a row's series of d.
type rowPlan struct {
	d *Desc
	p *plan
}

// plan is w's plan of d, for the series at place i of a row: rows of a
// collector send the same families in the same order, so it is most often
// the one of the last row's series there, found without a map lookup.
func (c *collection) plan(w *shaped, i int, d *Desc) *plan {
	if i < len(c.plans) && c.plans[i].d == d {
		return c.plans[i].p
	}
	p := w.plans[d.Desc]
	if i >= len(c.plans) {
		c.plans = append(c.plans, make([]rowPlan, i+1-len(c.plans))...)
	}
	c.plans[i] = rowPlan{d, p}
	return p
}

// owner is Shaper.owner, asked once for a run of one pod's series.
func (c *collection) owner(namespace, pod string) ownerAnswer {
	if !c.asked || c.lastPod != [2]string{namespace, pod} {
		c.last = c.sh.owner(namespace, pod, c.version)
		c.lastPod, c.asked = [2]string{namespace, pod}, true
	}
	return c.last
}

// outLabels appends to buf the label values, in out's order, of the
// aggregate a series with these label values belongs to; s is its source
// (nil for a gauge).
func (f *family) outLabels(buf, labels []string, c *collection, s *source) []string {
	switch f.shape.level {
	case LevelOwner:
		var a ownerAnswer
		if pod := labels[1]; pod != "" {
			a = c.owner(labels[0], pod)
			if a.state != OwnerKnown && s != nil && s.agg != nil {
				return append(buf, s.agg.labels...) // a pod deleted from the API keeps the owner it had
			}
		}
		buf = append(buf, labels[0], a.kind, a.name)
	case LevelNode:
	default:
		buf = append(buf, labels[:len(f.shape.level.LabelNames())]...)
	}
	for _, i := range f.keep {
		buf = append(buf, labels[i])
	}
	return buf
}

// source finds the source of hash h.
func (f *family) source(h uint64) *source {
	if f.cursor < len(f.order) && f.order[f.cursor].hash == h {
		f.cursor++
		return f.order[f.cursor-1]
	}
	return f.sources[h]
}

// aggregate is the aggregate of out label values, made if new, its
// current sum reset at its first series of collection gen.
func (f *family) aggregate(values []string, s *source, gen uint64) *aggregate {
	var a *aggregate
	if s != nil && s.agg != nil && slices.Equal(s.agg.labels, values) {
		a = s.agg
	} else {
		h := hashOf(values)
		if a = f.aggs[h]; a == nil {
			a = &aggregate{hash: h, labels: slices.Clone(values)}
			f.aggs[h] = a
			f.aggList, f.sorted = append(f.aggList, a), false
		}
	}
	a.touch(gen)
	return a
}

// touch marks a live in collection gen, its current sum reset at its
// first series of gen.
func (a *aggregate) touch(gen uint64) {
	if a.seen != gen {
		a.cur, a.hasCur = tally{}, false
	}
	a.seen = gen
}

// add takes one collected series into its aggregate.
func (f *family) add(m prometheus.Metric, c *collection) {
	labels, p, ok := f.read(m)
	if !ok {
		return
	}
	cgroupAt := len(LevelCgroup.LabelNames()) - 1
	f.take(labels, sourceHash(hashOf(labels[cgroupAt:cgroupAt+1]), labels[cgroupAt+1:]), 0, p, c)
}

// sourceHash identifies a counter or histogram series of a family by the
// hash of its cgroup label value and its extra label values.
func sourceHash(cgroupHash uint64, extra []string) uint64 {
	if len(extra) == 0 {
		return cgroupHash
	}
	return maphash.Comparable(hashSeed, [2]uint64{cgroupHash, hashOf(extra)})
}

// take adds a series with these label values (in the source's order) and
// value p into its aggregate; h is the hash of its cgroup and extra label
// values, which identifies its source. named, when not 0, is the hash of
// its other workload labels and the owners' version (takeRow): a source
// whose named is the same goes to the aggregate it went to last, its
// labels neither made nor looked up.
func (f *family) take(labels []string, h, named uint64, p tally, c *collection) {
	gen := c.gen
	if !p.cumulative() {
		// A gauge is what it is now: no history to keep.
		a := f.gaugeAggregate(labels, h, named, c)
		switch {
		case !a.hasCur || f.src.combine == combineSum:
			a.cur.add(&p, 1)
		case f.src.combine == combineMin && p.v < a.cur.v, f.src.combine == combineMax && p.v > a.cur.v:
			a.cur.v = p.v
		}
		a.hasCur = true
		return
	}
	// A source is its cgroup and extra labels (h): its names may fill in
	// after its first collection.
	s := f.source(h)
	if s != nil && s.seen != gen {
		f.next = append(f.next, s)
	}
	var a *aggregate
	switch {
	case named != 0 && s != nil && !s.held && s.agg != nil && s.named == named:
		a = s.agg
		a.touch(gen)
	case f.unnamed(labels, c, s):
		if s == nil {
			s = &source{hash: h, held: true}
			f.sources[h] = s
			f.next = append(f.next, s)
		}
		s.seen = gen
		return
	default:
		values := f.outLabels(f.buf[:0], labels, c, s)
		f.buf = values
		a = f.aggregate(values, s, gen)
	}
	switch {
	case s == nil || s.held:
		if s == nil {
			s = &source{hash: h}
			f.sources[h] = s
			f.next = append(f.next, s)
		}
		*s = source{hash: h, agg: a}
	case s.seen == gen: // twice in one collection: no history to keep
		a.cur.add(&p, 1)
		return
	case s.agg != a: // moved: its counts so far stay where they were
		s.agg.base.add(&s.last, 1)
		s.agg.base.add(&s.offset, -1)
		s.offset = s.last
	case p.below(&s.last): // restarted: what it had counted stays
		s.agg.base.add(&s.last, 1)
		s.agg.base.add(&s.offset, -1)
		s.offset = tally{}
	}
	s.agg, s.named = a, named
	s.last, s.seen = p.clone(), gen
	a.cur.add(&p, 1)
	a.cur.add(&s.offset, -1)
	a.hasCur = true
}

// gaugeAggregate is the aggregate of a gauge series: while its names
// (named, not 0) and h stay, the one they took it to before (which lives:
// emit forgets the slots not taken in its collection, whose aggregates
// alone it may forget).
func (f *family) gaugeAggregate(labels []string, h, named uint64, c *collection) *aggregate {
	var g *gaugeSlot
	if named != 0 {
		key := maphash.Comparable(hashSeed, [2]uint64{named, h})
		if g = f.gauges[key]; g == nil {
			g = &gaugeSlot{}
			f.gauges[key] = g
		}
		if g.seen != c.gen {
			g.seen = c.gen
			f.gaugesSeen++
		}
		if g.agg != nil {
			g.agg.touch(c.gen)
			return g.agg
		}
	}
	values := f.outLabels(f.buf[:0], labels, c, nil)
	f.buf = values
	a := f.aggregate(values, nil, c.gen)
	if g != nil {
		g.agg = a
	}
	return a
}

// unnamed reports whether a source is a pod's cgroup not named yet
// (owners set): one the Kubernetes index has not named, or, at owner
// level, one whose owner is pending. It is held back until named,
// and then joins its aggregate with all it counted, rather than leave its
// first counts in an aggregate of unnamed workloads (or under a
// ReplicaSet whose Deployment the index did not know yet).
func (f *family) unnamed(labels []string, c *collection, s *source) bool {
	switch {
	case c.sh.owners == nil || (s != nil && !s.held):
		return false
	case labels[1] == "":
		return s != nil || cgroup.IsPodPath(labels[len(LevelCgroup.LabelNames())-1])
	case f.shape.level != LevelOwner:
		return false
	}
	return c.owner(labels[0], labels[1]).state == OwnerPending
}

// read takes a collected series apart: label values in the source's
// order and its value.
func (f *family) read(m prometheus.Metric) ([]string, tally, bool) {
	if s, ok := m.(*sample); ok {
		if s.hist != nil {
			return s.labels, tally{log2: s.hist}, true
		}
		return s.labels, tally{kind: s.kind, v: s.value}, true
	}
	var out dto.Metric
	if m.Write(&out) != nil {
		return nil, tally{}, false
	}
	labels := make([]string, len(f.src.labels))
	for _, lp := range out.Label {
		if i := slices.Index(f.src.labels, lp.GetName()); i >= 0 {
			labels[i] = lp.GetValue()
		}
	}
	switch {
	case out.Histogram != nil:
		return labels, histTally(out.Histogram), true
	case out.Counter != nil:
		return labels, tally{kind: prometheus.CounterValue, v: out.Counter.GetValue()}, true
	case out.Gauge != nil:
		return labels, tally{kind: prometheus.GaugeValue, v: out.Gauge.GetValue()}, true
	case out.Untyped != nil:
		return labels, tally{kind: prometheus.UntypedValue, v: out.Untyped.GetValue()}, true
	}
	return nil, tally{}, false
}

// emit sends every aggregate of the collection gen, forgets sources that
// went away (their counts stay in their aggregate's base), and aggregates
// without a live source for longer than grace.
func (f *family) emit(ch chan<- prometheus.Metric, gen uint64, now time.Time, grace time.Duration) {
	// Every source is in the last collection's order or new in this one's.
	for _, s := range f.order {
		if s.seen == gen {
			continue
		}
		if !s.held && s.last.cumulative() {
			s.agg.base.add(&s.last, 1)
			s.agg.base.add(&s.offset, -1)
		}
		delete(f.sources, s.hash)
	}
	f.order, f.next, f.cursor = f.next, f.order[:0], 0
	if len(f.gauges) > f.gaugesSeen { // series gone: forget where they went
		maps.DeleteFunc(f.gauges, func(_ uint64, g *gaugeSlot) bool { return g.seen != gen })
	}
	if !f.sorted {
		// In the registry's order, which the exposition then keeps.
		slices.SortFunc(f.aggList, func(a, b *aggregate) int {
			for _, i := range f.out.order {
				if c := strings.Compare(a.labels[i], b.labels[i]); c != 0 {
					return c
				}
			}
			return 0
		})
		f.sorted = true
	}
	kept := f.aggList[:0]
	for _, a := range f.aggList {
		if a.seen == gen {
			a.lastLive = now
		} else if !a.base.cumulative() || now.Sub(a.lastLive) > grace {
			delete(f.aggs, a.hash)
			continue
		} else {
			a.cur, a.hasCur = tally{}, false
		}
		kept = append(kept, a)
		v := a.cur
		if a.base.cumulative() {
			v = a.base.clone()
			v.add(&a.cur, 1)
		}
		if m := f.metric(v, a.labels); m != nil {
			ch <- m
		}
	}
	clear(f.aggList[len(kept):])
	f.aggList = kept
}

// metric is an aggregate's series: its classic histogram, with the native
// buckets of the same counts where the family has native histograms.
func (f *family) metric(p tally, labels []string) prometheus.Metric {
	m := f.classic(p, labels)
	if !f.shape.native {
		return m
	}
	slots := p.log2Slots()
	switch s, ok := m.(*sample); {
	case slots == nil:
		return m
	case ok:
		s.native = true
		return s
	}
	return withNative{Metric: m, slots: slices.Clone(slots)} // the tally changes at the next collection
}

// classic is an aggregate's series as a classic histogram or a number.
func (f *family) classic(p tally, labels []string) prometheus.Metric {
	switch {
	case p.log2 != nil && len(f.shape.buckets) == 0:
		return histogramSample(f.out, p.log2, labels)
	case p.log2 != nil:
		return f.constHistogram(log2Bounds, p.log2.Slots[:], p.log2.Seconds(), labels)
	case p.hist != nil:
		return f.constHistogram(p.hist.bounds, p.hist.counts, p.hist.sum, labels)
	}
	return valueSample(f.out, p.kind, p.v, labels)
}

// constHistogram is a client_golang histogram of counts per bound (the
// last one +Inf), at the family's chosen buckets or every bound.
func (f *family) constHistogram(bounds []float64, counts []uint64, sum float64, labels []string) prometheus.Metric {
	want := f.shape.buckets
	if len(want) == 0 {
		want = bounds
	}
	cumulative := make(map[float64]uint64, len(want))
	var total uint64
	next := 0
	for i, c := range counts {
		if i < len(bounds) {
			for next < len(want) && want[next] < bounds[i] {
				cumulative[want[next]] = total
				next++
			}
		}
		total += c
		if i < len(bounds) && next < len(want) && want[next] == bounds[i] {
			cumulative[want[next]] = total
			next++
		}
	}
	for ; next < len(want); next++ {
		cumulative[want[next]] = total
	}
	return prometheus.MustNewConstHistogram(f.out.Desc, total, sum, cumulative, labels...)
}
