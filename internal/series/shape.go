package series

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Level is how finely per-workload series are aggregated on export.
type Level int

// Levels, finest first. LevelCgroup is every series as probes collect it.
const (
	LevelCgroup Level = iota
	LevelContainer
	LevelPod
	LevelOwner
	LevelNamespace
	LevelNode
)

var levelNames = []string{"cgroup", "container", "pod", "owner", "namespace", "node"}

// Levels lists every level's name, finest first.
func Levels() []string { return slices.Clone(levelNames) }

// ParseLevel reads a level by name.
func ParseLevel(s string) (Level, error) {
	if i := slices.Index(levelNames, s); i >= 0 {
		return Level(i), nil
	}
	return 0, fmt.Errorf("unknown aggregation %q: want one of %s", s, strings.Join(levelNames, ", "))
}

func (l Level) String() string { return levelNames[l] }

// Owner labels: the controller of a pod (Deployment, StatefulSet,
// DaemonSet, CronJob, Job, ReplicaSet; Pod for a bare pod).
const (
	OwnerKindLabel = "owner_kind"
	OwnerNameLabel = "owner_name"
)

// LabelNames are the workload labels a series carries at l, in the order
// of its label values.
func (l Level) LabelNames() []string {
	switch l {
	case LevelCgroup:
		return []string{"namespace", "pod", "container", "cgroup"}
	case LevelContainer:
		return []string{"namespace", "pod", "container"}
	case LevelPod:
		return []string{"namespace", "pod"}
	case LevelOwner:
		return []string{"namespace", OwnerKindLabel, OwnerNameLabel}
	case LevelNamespace:
		return []string{"namespace"}
	}
	return nil
}

// FamilyShape is one metric family's settings in the agent's config file.
// Aggregation, DropLabels and Buckets apply to per-workload families only,
// Native to their log2 histograms.
type FamilyShape struct {
	// Aggregation overrides the agent's level for this family.
	Aggregation string `yaml:"aggregation"`
	// DropLabels are labels of the family beyond the workload ones
	// (direction, qtype, ...) to sum over.
	DropLabels []string `yaml:"drop-labels"`
	// Buckets are a histogram's upper bounds, chosen among the ones it is
	// collected with (so every count stays exact).
	Buckets []float64 `yaml:"buckets"`
	// Native exports a log2 histogram as a native histogram as well (on
	// protobuf scrapes, OTLP exponential); nil keeps the flags' choice.
	Native *bool `yaml:"native"`
	// Enabled false leaves the family out; nil keeps the flags' choice.
	Enabled *bool `yaml:"enabled"`
}

// Shaping is what every metric family looks like on export (/metrics and
// OTLP alike): which families are exported, at which aggregation level,
// with which labels and buckets.
type Shaping struct {
	Aggregation Level
	Families    map[string]FamilyShape
	// Disable and Enable list families by name (--disable-metrics,
	// --enable-metrics); "all" in Disable means every family, and Enable
	// wins over Disable and over the config file.
	Disable, Enable []string
	// Native lists the log2 histograms exported as native histograms as
	// well (--native-histograms); "all" means every one, and the config
	// file's native setting wins over "all".
	Native []string
}

// Validate checks s against the names of every family the agent can
// export: an unknown name, level, label or bucket is an error.
func (s Shaping) Validate(known []string) error {
	check := func(flag, name string) error {
		if !slices.Contains(known, name) {
			return fmt.Errorf("%s: unknown metric %q (`orb8 agent --help` lists none such; docs/metrics.md lists them all)", flag, name)
		}
		return nil
	}
	for _, n := range s.Disable {
		if n == "all" {
			continue
		}
		if err := check("--disable-metrics", n); err != nil {
			return err
		}
	}
	for _, n := range s.Enable {
		if err := check("--enable-metrics", n); err != nil {
			return err
		}
	}
	for _, n := range s.Native {
		if n == "all" {
			continue
		}
		if err := check("--native-histograms", n); err != nil {
			return err
		}
		if d := workloadFamily(n); d == nil || !d.log2() {
			return fmt.Errorf("--native-histograms: %s: %s", n, errNotLog2())
		}
	}
	names := make([]string, 0, len(s.Families))
	for n := range s.Families {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := check("config metrics", n); err != nil {
			return err
		}
		if err := s.Families[n].validate(n); err != nil {
			return fmt.Errorf("config metrics: %s: %w", n, err)
		}
	}
	return nil
}

func (f FamilyShape) validate(name string) error {
	d := workloadFamily(name)
	if d == nil {
		if f.Aggregation != "" || len(f.DropLabels) > 0 || len(f.Buckets) > 0 || f.Native != nil {
			return fmt.Errorf("not a per-workload family: only enabled applies")
		}
		return nil
	}
	if f.Native != nil && !d.log2() {
		return fmt.Errorf("native: %s", errNotLog2())
	}
	if f.Aggregation != "" {
		if _, err := ParseLevel(f.Aggregation); err != nil {
			return err
		}
	}
	extra := d.ExtraLabels()
	for _, l := range f.DropLabels {
		if !slices.Contains(extra, l) {
			if len(extra) == 0 {
				return fmt.Errorf("drop-labels: %q: the family has no labels beyond the workload ones (aggregation sets those)", l)
			}
			return fmt.Errorf("drop-labels: %q: the family's own labels are %s (aggregation sets the workload ones)", l, strings.Join(extra, ", "))
		}
	}
	if len(f.Buckets) > 0 {
		if d.bounds == nil {
			return fmt.Errorf("buckets: not a histogram")
		}
		for i, b := range f.Buckets {
			if i > 0 && b <= f.Buckets[i-1] {
				return fmt.Errorf("buckets: want increasing bounds")
			}
			if !slices.Contains(d.bounds, b) {
				return fmt.Errorf("buckets: %g is not one of the bounds the family is collected with (%s)", b, formatBounds(d.bounds))
			}
		}
	}
	return nil
}

func formatBounds(bounds []float64) string {
	s := make([]string, len(bounds))
	for i, b := range bounds {
		s[i] = fmt.Sprintf("%g", b)
	}
	return strings.Join(s, ", ")
}

// errNotLog2 says which families may be native histograms.
func errNotLog2() error {
	return fmt.Errorf("only log2 histograms can be native (%s)", strings.Join(log2Families(), ", "))
}

// native says whether the log2 histogram named name is also exported as a
// native histogram: as --native-histograms names it, or as the config file
// says, or as --native-histograms all says.
func (s Shaping) native(name string) bool {
	if d := workloadFamily(name); d == nil || !d.log2() {
		return false
	}
	if slices.Contains(s.Native, name) {
		return true
	}
	if f, ok := s.Families[name]; ok && f.Native != nil {
		return *f.Native
	}
	return slices.Contains(s.Native, "all")
}

// enabled says whether the family named name is exported.
func (s Shaping) enabled(name string) bool {
	if slices.Contains(s.Enable, name) {
		return true
	}
	if f, ok := s.Families[name]; ok && f.Enabled != nil {
		return *f.Enabled
	}
	return !slices.Contains(s.Disable, name) && !slices.Contains(s.Disable, "all")
}

// shape is how one per-workload family leaves the agent.
type shape struct {
	level   Level
	drop    []string
	buckets []float64
	native  bool
}

func (s Shaping) shapeOf(name string) shape {
	sh := shape{level: s.Aggregation, native: s.native(name)}
	if f, ok := s.Families[name]; ok {
		if f.Aggregation != "" {
			sh.level, _ = ParseLevel(f.Aggregation)
		}
		sh.drop, sh.buckets = f.DropLabels, f.Buckets
	}
	return sh
}

// identity reports whether sh leaves a family as collected.
func (sh shape) identity() bool {
	return sh.level == LevelCgroup && len(sh.drop) == 0 && len(sh.buckets) == 0 && !sh.native
}

// Log2Bounds are the finite upper bounds of Log2Hist's buckets, in seconds:
// the bounds of a histogram family declared with them.
func Log2Bounds() []float64 { return slices.Clone(log2Bounds) }

var log2Bounds = func() []float64 {
	out := make([]float64, Log2Slots-1)
	for i := range out {
		out[i] = Log2UpperBound(i)
	}
	return out
}()

// families are the per-workload families declared so far, by name; by
// Desc, to recognise their series.
var families = struct {
	sync.RWMutex
	byName map[string]*Desc
}{byName: map[string]*Desc{}}

func declare(d *Desc) {
	families.Lock()
	defer families.Unlock()
	families.byName[d.name] = d
}

func workloadFamily(name string) *Desc {
	families.RLock()
	defer families.RUnlock()
	return families.byName[name]
}

// WorkloadFamily is the per-workload family named name (one aggregation
// applies to), nil for any other name.
func WorkloadFamily(name string) *Desc { return workloadFamily(name) }

// ExtraLabels are the family's labels beyond the workload ones.
func (d *Desc) ExtraLabels() []string { return d.labels[len(LevelCgroup.LabelNames()):] }

// Bounds are a histogram family's finite bucket bounds; nil for others.
func (d *Desc) Bounds() []float64 { return d.bounds }

// log2 reports whether d is a histogram of Log2Hist's bounds.
func (d *Desc) log2() bool { return slices.Equal(d.bounds, log2Bounds) }

// log2Families names the log2 histogram families declared so far.
func log2Families() []string {
	families.RLock()
	defer families.RUnlock()
	var out []string
	for name, d := range families.byName {
		if d.log2() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
