package policy

import (
	"errors"
	"fmt"

	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// fieldError is one problem with one field, named by its path in the YAML
// (e.g. spec.rules[0].action).
type fieldError struct {
	Field, Msg string
}

func (e fieldError) Error() string { return e.Field + ": " + e.Msg }

type fieldErrors []fieldError

func (l *fieldErrors) add(field, format string, args ...any) {
	*l = append(*l, fieldError{field, fmt.Sprintf(format, args...)})
}

// Validate checks p as Parse does after decoding: every problem found is
// returned, one line each, named by its field path.
func Validate(p Policy) error {
	return validate(p).join("")
}

// join returns the errors as one, each line prefixed by prefix.
func (l fieldErrors) join(prefix string) error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = errors.New(prefix + e.Error())
	}
	return errors.Join(errs...)
}

func validate(p Policy) fieldErrors {
	var errs fieldErrors
	switch p.Kind {
	case KindCluster:
		if p.Namespace != "" {
			errs.add("metadata.namespace", "not allowed on a %s", KindCluster)
		}
	case KindNamespaced:
		if p.Namespace == "" {
			errs.add("metadata.namespace", "required on a %s", KindNamespaced)
		} else {
			errs.k8sName("metadata.namespace", p.Namespace, validation.IsDNS1123Label)
		}
	default:
		errs.add("kind", "%q is not one of %s, %s", p.Kind, KindCluster, KindNamespaced)
	}
	if p.Name == "" {
		errs.add("metadata.name", "required")
	} else {
		errs.k8sName("metadata.name", p.Name, validation.IsDNS1123Subdomain)
	}
	if p.Mode != ModeEnforce && p.Mode != ModeMonitor {
		errs.add("spec.mode", "%q is not one of %s, %s", p.Mode, ModeEnforce, ModeMonitor)
	}
	errs.selector(p.Kind, p.Selector)
	if len(p.Rules) == 0 {
		errs.add("spec.rules", "at least one rule is required")
	}
	for i, r := range p.Rules {
		errs.rule(fmt.Sprintf("spec.rules[%d]", i), r)
	}
	return errs
}

// k8sName checks a Kubernetes name with one of apimachinery's validators.
func (l *fieldErrors) k8sName(field, name string, check func(string) []string) {
	if msgs := check(name); len(msgs) > 0 {
		l.add(field, "%q: %s", name, strings.Join(msgs, "; "))
	}
}

func (l *fieldErrors) selector(kind string, s Selector) {
	if kind == KindNamespaced && len(s.Namespaces) > 0 {
		l.add("spec.selector.namespaces", "not allowed in a %s (it selects pods of its own namespace only)", KindNamespaced)
	}
	for i, ns := range s.Namespaces {
		l.k8sName(fmt.Sprintf("spec.selector.namespaces[%d]", i), ns, validation.IsDNS1123Label)
	}
	if s.PodSelector != nil {
		l.labelSelector("spec.selector.podSelector", *s.PodSelector)
	}
	for i, c := range s.Containers {
		l.k8sName(fmt.Sprintf("spec.selector.containers[%d]", i), c, validation.IsDNS1123Label)
	}
	for i, c := range s.Cgroups {
		if !isCleanAbsPath(c) {
			l.add(fmt.Sprintf("spec.selector.cgroups[%d]", i), "%q is not a clean absolute path", c)
		}
	}
}

func (l *fieldErrors) labelSelector(field string, s LabelSelector) {
	for k, v := range s.MatchLabels {
		f := fmt.Sprintf("%s.matchLabels[%s]", field, k)
		l.k8sName(f, k, validation.IsQualifiedName)
		l.k8sName(f, v, validation.IsValidLabelValue)
	}
	for i, r := range s.MatchExpressions {
		f := fmt.Sprintf("%s.matchExpressions[%d]", field, i)
		l.k8sName(f+".key", r.Key, validation.IsQualifiedName)
		switch r.Operator {
		case OpIn, OpNotIn:
			if len(r.Values) == 0 {
				l.add(f+".values", "required for operator %s", r.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(r.Values) > 0 {
				l.add(f+".values", "must be empty for operator %s", r.Operator)
			}
		default:
			l.add(f+".operator", "%q is not one of %s, %s, %s, %s", r.Operator, OpIn, OpNotIn, OpExists, OpDoesNotExist)
		}
		for j, v := range r.Values {
			l.k8sName(fmt.Sprintf("%s.values[%d]", f, j), v, validation.IsValidLabelValue)
		}
	}
}

func (l *fieldErrors) rule(field string, r Rule) {
	var kinds []string
	var actions []Action
	if r.Exec != nil {
		kinds, actions = append(kinds, "exec"), []Action{ActionKill, ActionAudit}
		l.exec(field+".exec", *r.Exec)
	}
	if r.Connect != nil {
		kinds, actions = append(kinds, "connect"), []Action{ActionDeny, ActionAudit}
		l.connect(field+".connect", *r.Connect)
	}
	if r.DNS != nil {
		kinds, actions = append(kinds, "dns"), []Action{ActionAudit}
		l.dns(field+".dns", *r.DNS)
	}
	switch {
	case len(kinds) == 0:
		l.add(field, "one of exec, connect, dns is required")
	case len(kinds) > 1:
		l.add(field, "exactly one of exec, connect, dns is allowed, found %s", strings.Join(kinds, ", "))
	case r.Action == "":
		l.add(field+".action", "required, one of %s", joinActions(actions))
	case !slices.Contains(actions, r.Action):
		l.add(field+".action", "%q is not one of %s", r.Action, joinActions(actions))
	}
}

func joinActions(actions []Action) string {
	s := make([]string, len(actions))
	for i, a := range actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func (l *fieldErrors) exec(field string, r ExecRule) {
	switch {
	case len(r.Paths) == 0:
		l.add(field+".paths", "at least one path is required")
	case len(r.Paths) > MaxExecPaths:
		l.add(field+".paths", "%d paths, at most %d allowed", len(r.Paths), MaxExecPaths)
	}
	for i, p := range r.Paths {
		f := fmt.Sprintf("%s.paths[%d]", field, i)
		switch {
		case !isCleanAbsPath(p):
			l.add(f, "%q is not a clean absolute path", p)
		case len(p) > MaxExecPathLen:
			l.add(f, "%d bytes, at most %d allowed", len(p), MaxExecPathLen)
		}
	}
	if len(r.ArgsContain) > MaxArgsContain {
		l.add(field+".argsContain", "%d strings, at most %d allowed", len(r.ArgsContain), MaxArgsContain)
	}
	for i, a := range r.ArgsContain {
		f := fmt.Sprintf("%s.argsContain[%d]", field, i)
		switch {
		case a == "":
			l.add(f, "empty (it would match every exec)")
		case len(a) > MaxArgsContainLen:
			l.add(f, "%d bytes, at most %d allowed", len(a), MaxArgsContainLen)
		case strings.IndexByte(a, 0) >= 0:
			l.add(f, "%q holds a NUL byte (arguments cannot)", a)
		}
	}
}

func (l *fieldErrors) connect(field string, r ConnectRule) {
	if len(r.CIDRs) == 0 {
		l.add(field+".cidrs", "at least one CIDR is required")
	}
	for i, p := range r.CIDRs {
		f := fmt.Sprintf("%s.cidrs[%d]", field, i)
		switch {
		case !p.IsValid():
			l.add(f, "not a valid CIDR")
		case p != p.Masked():
			l.add(f, "%s has host bits set (the network is %s)", p, p.Masked())
		}
	}
	for i, port := range r.Ports {
		if port == 0 {
			l.badPort(fmt.Sprintf("%s.ports[%d]", field, i), 0)
		}
	}
	for i, proto := range r.Protocols {
		if proto != "tcp" && proto != "udp" {
			l.add(fmt.Sprintf("%s.protocols[%d]", field, i), "%q is not one of tcp, udp", proto)
		}
	}
}

func (l *fieldErrors) badPort(field string, port int) {
	l.add(field, "%d is not a port (1-65535)", port)
}

func (l *fieldErrors) dns(field string, r DNSRule) {
	if len(r.Names) == 0 {
		l.add(field+".names", "at least one name is required")
	}
	for i, n := range r.Names {
		if !isDNSPattern(n) {
			l.add(fmt.Sprintf("%s.names[%d]", field, i), "%q is not a lower-case DNS name or *.suffix wildcard without a trailing dot", n)
		}
	}
}

// isCleanAbsPath reports whether p is an absolute path in the form the
// kernel reports paths: no "//", ".", ".." or trailing "/", no NUL.
func isCleanAbsPath(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.ContainsRune(p, 0)
}

// isDNSPattern reports whether n is a DNS name, or "*." and one, in the
// canonical form: lower-case, no trailing dot, labels of 1-63 letters,
// digits, '-' or '_', 253 bytes at most.
func isDNSPattern(n string) bool {
	n = strings.TrimPrefix(n, "*.")
	if n == "" || len(n) > 253 {
		return false
	}
	for label := range strings.SplitSeq(n, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
