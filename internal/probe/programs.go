package probe

import (
	"fmt"
	"slices"
	"strings"
)

// Programs sorts a probe's BPF programs by what the probe loses when the
// kernel refuses one. Load rejects a collection with a program it does not
// sort, and docs/kernel-requirements.md is generated from it
// (hack/kernelreq): what a refused program costs is said once, here.
type Programs struct {
	// Required programs: if one fails to load or attach, the probe is down.
	Required []string
	// Optional programs, each with the feature it gives: without one the
	// probe runs without that feature ("runs without <feature>").
	Optional map[string]string
	// Fallback names, for a program, the programs that serve in its place
	// where the kernel refuses it.
	Fallback map[string][]string
}

// Sorted reports whether name is a required, optional or fallback program.
func (p Programs) Sorted(name string) bool {
	if slices.Contains(p.Required, name) {
		return true
	}
	if _, ok := p.Optional[name]; ok {
		return true
	}
	return p.fallbackOf(name) != ""
}

// fallbackOf is the program name serves in place of, or "".
func (p Programs) fallbackOf(name string) string {
	for prog, instead := range p.Fallback {
		if slices.Contains(instead, name) {
			return prog
		}
	}
	return ""
}

// Loss says what the probe loses when the kernel refuses the program name.
func (p Programs) Loss(name string) string {
	if of := p.fallbackOf(name); of != "" {
		return fmt.Sprintf("nothing while %s loads; if it is refused too: %s", of, p.lossAlone(of))
	}
	loss := p.lossAlone(name)
	switch instead := p.Fallback[name]; len(instead) {
	case 0:
		return loss
	case 1:
		return fmt.Sprintf("%s takes its place; if refused too: %s", instead[0], loss)
	default:
		return fmt.Sprintf("%s take its place; if refused too: %s", strings.Join(instead, ", "), loss)
	}
}

// lossAlone is the loss of name with no fallback loaded.
func (p Programs) lossAlone(name string) string {
	if feature, ok := p.Optional[name]; ok {
		return "runs without " + feature
	}
	if slices.Contains(p.Required, name) {
		return "probe down"
	}
	return "unknown: the program is not sorted"
}
