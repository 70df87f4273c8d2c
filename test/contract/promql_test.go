package contract

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// notMetrics are PromQL words that look like metric names but are not:
// aggregations (which may be followed by by/without before their
// parenthesis), binary operators and modifiers.
var notMetrics = []string{
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
	"quantile", "limitk", "limit_ratio", "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
}

// labelLists are the keywords followed by a parenthesised list of labels.
var labelLists = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// metricNames returns the metric names a PromQL expression selects, in
// order of first use. It is a lexer, not a parser: strings, label matchers
// ({...}), ranges ([...]), numbers, functions (a name followed by "("),
// label lists and Grafana variables ($x, ${x}) are skipped; every other
// name is a metric. Syntax is promtool's to check.
func metricNames(expr string) []string {
	var names []string
	s := expr
	skipTo := func(i int, closer byte) int { // index after closer, minding strings
		for i < len(s) && s[i] != closer {
			if s[i] == '"' || s[i] == '\'' || s[i] == '`' {
				i = skipString(s, i)
				continue
			}
			i++
		}
		return min(i+1, len(s))
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		case c == '{':
			i = skipTo(i+1, '}')
		case c == '[':
			i = skipTo(i+1, ']')
		case c == '#':
			i = skipTo(i+1, '\n')
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				i = skipTo(i+1, '}')
			} else {
				for i < len(s) && isNameChar(s[i]) {
					i++
				}
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isNameChar(s[i]) || s[i] == '.') {
				i++
			}
		case isNameStart(c):
			start := i
			for i < len(s) && isNameChar(s[i]) {
				i++
			}
			word := s[start:i]
			next := i
			for next < len(s) && (s[next] == ' ' || s[next] == '\t' || s[next] == '\n') {
				next++
			}
			switch {
			case slices.Contains(labelLists, strings.ToLower(word)):
				if next < len(s) && s[next] == '(' {
					i = skipTo(next+1, ')')
				}
			case next < len(s) && s[next] == '(', slices.Contains(notMetrics, strings.ToLower(word)):
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
		default:
			i++
		}
	}
	return names
}

func skipString(s string, i int) int {
	quote := s[i]
	for i++; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quote != '`':
			i++
		case s[i] == quote:
			return i + 1
		}
	}
	return i
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

// labelValuesRE is Grafana's label_values(metric{...}, label) variable query.
var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// variableQueryNames returns the metric names of a Grafana variable query.
func variableQueryNames(q string) []string {
	if m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q)); m != nil {
		return metricNames(m[1])
	}
	return metricNames(q)
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`orb8_process_exec_total{cgroup="/a{b}", pod=~"x|y"}`:                                                     "orb8_process_exec_total",
		`sum by (namespace, le) (rate(orb8_dns_latency_seconds_bucket{instance=~"$instance"}[$__rate_interval]))`: "orb8_dns_latency_seconds_bucket",
		`histogram_quantile(0.99, sum without (pod) (rate(x_bucket[5m] offset 1h)))`:                              "x_bucket",
		`a / on (namespace) group_left (pod) b > bool 0.5 unless c or vector(0)`:                                  "a b c",
		`count(orb8_probe_up == 0) or vector(1e3)`:                                                                "orb8_probe_up",
		`sum(rate(m{a="}\"]"}[${__range}])) by (x)`:                                                               "m",
		`topk(10, sum by (syscall) (rate(orb8_syscalls_total[1m]))) # top ten`:                                    "orb8_syscalls_total",
		`orb8_accelerator_memory_outstanding_bytes and on (cgroup) (orb8_accelerator_memory_leak_suspected == 1)`: "orb8_accelerator_memory_outstanding_bytes orb8_accelerator_memory_leak_suspected",
		`label_replace(up, "a", "$1", "b", "(.*)")`:                                                               "up",
		`max_over_time(orb8_accelerator_throttled[10m:1m]) > 0 and SUM(orb8_accelerator_power_watts) BY (device)`: "orb8_accelerator_throttled orb8_accelerator_power_watts",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
	if got := variableQueryNames(`label_values(orb8_process_running{instance=~"$instance"}, namespace)`); !slices.Equal(got, []string{"orb8_process_running"}) {
		t.Errorf("label_values query: %v", got)
	}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// FuzzMetricNames: any input ends, and yields only valid metric names.
func FuzzMetricNames(f *testing.F) {
	for _, seed := range []string{`sum by (a) (rate(m{x="y"}[5m]))`, `"unterminated`, `{`, `[`, `${`, `a{b="\`, `x # c`, `1.5e3 + m`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, n := range metricNames(expr) {
			if !nameRE.MatchString(n) {
				t.Fatalf("metricNames(%q) yielded %q", expr, n)
			}
		}
	})
}
