package ask

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// parser holds a question's tokens and which of them are accounted for.
type parser struct {
	tok  []string
	used []bool
	q    Query
}

var splitRE = regexp.MustCompile(`[^a-z0-9_./:=-]+`)

// tokens lowercases the question and splits it into words; possessives
// ("today's") lose their 's, and "x=y" splits into x and y.
func tokens(question string) []string {
	s := strings.ToLower(strings.NewReplacer("’", "'", "right size", "right-size", "out of memory", "oom").Replace(question))
	s = strings.ReplaceAll(s, "'s ", " ")
	s = strings.TrimSuffix(s, "'s")
	var out []string
	for _, t := range splitRE.Split(s, -1) {
		t = strings.Trim(t, ".:/")
		for _, p := range strings.SplitN(t, "=", 2) {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Parse turns a question into a query, or says why it cannot.
func Parse(question string) (Query, error) {
	p := &parser{tok: tokens(question)}
	p.used = make([]bool, len(p.tok))
	if len(p.tok) == 0 {
		return Query{}, &ParseError{question, "the question is empty"}
	}
	p.times()
	p.namespace()
	p.namedWorkload()
	p.intent()
	p.metric()
	p.kindOrderLimit()
	p.leftovers()
	if p.q.Intent == "" {
		if p.q.Metric == "" {
			return Query{}, &ParseError{question, "no metric, cost, recommendation, forecast or rollout in it"}
		}
		p.q.Intent = IntentTop
		if p.q.Workload != "" && p.q.Kind == "" && p.q.Limit == 0 && !p.has("which", "who", "most", "top", "least") {
			p.q.Intent = IntentValue
		}
	}
	p.trimForIntent()
	return p.q, nil
}

func (p *parser) has(words ...string) bool {
	for _, t := range p.tok {
		if slices.Contains(words, t) {
			return true
		}
	}
	return false
}

// hasPrefix says whether a token starts with one of prefixes.
func (p *parser) hasPrefix(prefixes ...string) bool {
	for _, t := range p.tok {
		for _, pre := range prefixes {
			if strings.HasPrefix(t, pre) {
				return true
			}
		}
	}
	return false
}

func (p *parser) mark(from, to int) {
	for i := from; i < to && i < len(p.used); i++ {
		p.used[i] = true
	}
}

// at returns token i, or "" past the end.
func (p *parser) at(i int) string {
	if i < 0 || i >= len(p.tok) {
		return ""
	}
	return p.tok[i]
}

var numberWords = map[string]int{
	"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
	"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
}

// number reads token i as a count: 5, five.
func number(t string) (int, bool) {
	if n, ok := numberWords[t]; ok {
		return n, true
	}
	n, err := strconv.Atoi(t)
	return n, err == nil && n > 0
}

var unitRE = regexp.MustCompile(`^(\d+)(m|min|mins|h|hr|hrs|d|w)$`)

// unit reads a time unit word into minutes.
func unit(t string) (int, bool) {
	switch strings.TrimSuffix(t, "s") {
	case "minute", "min", "m":
		return 1, true
	case "hour", "hr", "h":
		return 60, true
	case "day", "d":
		return 24 * 60, true
	case "week", "w":
		return 7 * 24 * 60, true
	case "month":
		return 30 * 24 * 60, true
	case "year":
		return 365 * 24 * 60, true
	}
	return 0, false
}

// duration writes minutes as the query writes ranges: 30m, 6h, 24h, 3d.
func duration(min int) string {
	switch {
	case min%(24*60) == 0 && min > 24*60:
		return strconv.Itoa(min/(24*60)) + "d"
	case min%60 == 0:
		return strconv.Itoa(min/60) + "h"
	}
	return strconv.Itoa(min) + "m"
}

// times finds the time range ("in the last 2 hours", "today", "this
// week"), the forecast horizon ("tomorrow", "next week", "over the next 3
// days") and the period a cost is projected to ("per month", "monthly").
func (p *parser) times() {
	for i := 0; i < len(p.tok); i++ {
		t := p.tok[i]
		switch t {
		case "last", "past", "previous", "next":
			n, j := 1, i+1
			if v, ok := number(p.at(j)); ok {
				n, j = v, j+1
			} else if m := unitRE.FindStringSubmatch(p.at(j)); m != nil {
				v, _ := strconv.Atoi(m[1])
				u, _ := unit(m[2])
				p.setTime(t, duration(v*u), i, j+1)
				continue
			}
			if u, ok := unit(p.at(j)); ok {
				p.setTime(t, duration(n*u), i, j+1)
			}
		case "today", "yesterday":
			p.q.Range = t
			p.mark(i, i+1)
		case "tomorrow":
			p.q.Horizon = "24h"
			p.mark(i, i+1)
		case "this":
			if u, ok := unit(p.at(i + 1)); ok && u >= 24*60 {
				if p.at(i+1) == "year" {
					p.q.Per = "year"
				} else {
					p.q.Range = duration(u)
				}
				p.mark(i, i+2)
			}
		case "per", "each", "every", "a", "an":
			if per := perPeriod(p.at(i + 1)); per != "" && (t != "a" && t != "an" || !p.used[i+1]) {
				p.q.Per = per
				p.mark(i, i+2)
			}
		case "hourly", "daily", "weekly", "monthly", "yearly", "annually", "annual":
			p.q.Per = map[string]string{"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year", "annual": "year"}[t]
			p.mark(i, i+1)
		}
	}
}

func perPeriod(t string) string {
	switch t {
	case "hour", "day", "week", "month", "year":
		return t
	}
	return ""
}

// setTime records a range (last/past/previous) or a horizon (next) that
// tokens [from, to) say, with the words before it ("in the", "over the").
func (p *parser) setTime(word, d string, from, to int) {
	if word == "next" {
		p.q.Horizon = d
	} else {
		p.q.Range = d
	}
	p.mark(from, to)
	for j := from - 1; j >= 0 && slices.Contains([]string{"the", "in", "over", "during", "for", "within"}, p.tok[j]); j-- {
		p.used[j] = true
	}
}

// nameRE is what a Kubernetes name looks like.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

// isName says whether token i can be a namespace or workload name: name
// shaped, not yet used, not a word the parser knows.
func (p *parser) isName(i int) bool {
	t := p.at(i)
	return t != "" && !p.used[i] && nameRE.MatchString(t) && !known(t)
}

// namespace finds "in namespace X", "namespace X", "ns X", "in the X
// namespace", "X namespace" and "in X" (X not a word the parser knows).
func (p *parser) namespace() {
	for i, t := range p.tok {
		if p.used[i] {
			continue
		}
		switch {
		case (t == "namespace" || t == "ns") && p.isName(i+1):
			p.q.Namespace = p.tok[i+1]
			p.mark(i, i+2)
		case t == "namespace" && i > 0 && p.isName(i-1):
			p.q.Namespace = p.tok[i-1]
			p.mark(i-1, i+1)
		case t == "in" && p.isName(i+1) && !kindWord(p.at(i+2)):
			p.q.Namespace = p.tok[i+1]
			p.mark(i, i+2)
		default:
			continue
		}
		return
	}
}

// namedWorkload finds a workload named with its kind: "pod X", "the X
// deployment".
func (p *parser) namedWorkload() {
	for i, t := range p.tok {
		if p.used[i] || !singularKind(t) {
			continue
		}
		switch {
		case t == "pod" && p.isName(i+1) && strings.Contains(p.tok[i+1], "-"):
			p.q.Workload = p.tok[i+1]
			p.mark(i, i+2)
			return
		case t != "pod" && t != "namespace" && i > 0 && p.isName(i-1) && p.at(i-2) == "the":
			p.q.Workload = p.tok[i-1]
			p.mark(i-2, i+1)
			return
		}
	}
}

// intent finds what is asked, in order: regressions (a rollout), a
// recommendation, a cost, a forecast; otherwise top or value (Parse).
func (p *parser) intent() {
	switch {
	case p.hasPrefix("regress", "rollout", "deploys", "releas", "upgrade") || p.has("deploy", "rolled") ||
		p.phrase("new", "version") || p.phrase("before", "and", "after") || p.phrase("got", "worse") || p.phrase("what", "changed") ||
		p.after("deployment", "last", "latest", "after", "new"):
		p.q.Intent = IntentRegressions
	case p.hasPrefix("recommend", "rightsiz", "right-siz", "resiz", "suggest", "overprovision", "over-provision", "underprovision", "under-provision", "wast") ||
		p.has("should") && p.has("request", "requests", "limit", "limits", "give", "have") ||
		p.has("right") && p.has("request", "requests", "limit", "limits"):
		p.q.Intent = IntentRecommend
	case p.hasPrefix("cost", "spend", "expensive", "cheap") || p.has("price", "prices", "pricing", "pay", "paying", "paid", "bill", "billed", "billing"):
		p.q.Intent = IntentCost
	case p.hasPrefix("forecast", "predict", "replica", "capacity") || p.has("scale", "project", "projected", "projection") ||
		p.q.Horizon != "" || p.has("will") && p.has("need", "get") || p.has("need") && p.has("pods"):
		p.q.Intent = IntentForecast
	}
}

// phrase says whether the words appear in a row.
func (p *parser) phrase(words ...string) bool {
	for i := range p.tok {
		if i+len(words) <= len(p.tok) && slices.Equal(p.tok[i:i+len(words)], words) {
			return true
		}
	}
	return false
}

// after says whether word follows one of before, a word or two earlier.
func (p *parser) after(word string, before ...string) bool {
	for i, t := range p.tok {
		if t == word && (slices.Contains(before, p.at(i-1)) || slices.Contains(before, p.at(i-2))) {
			return true
		}
	}
	return false
}

// kindOrderLimit finds what rows are (pods, workloads, ...), whether the
// least come first, and how many rows.
func (p *parser) kindOrderLimit() {
	for i, t := range p.tok {
		if p.used[i] {
			continue
		}
		if k, ok := kindWords[t]; ok && k != "" && p.q.Kind == "" {
			p.q.Kind = k
			p.used[i] = true
			continue
		}
		switch t {
		case "least", "lowest", "fewest", "bottom", "smallest", "quietest", "cheapest":
			p.q.Order = "asc"
		case "idle":
			if p.q.Intent == "" {
				p.q.Order = "asc"
			}
		}
		if n, ok := number(t); ok && t != "a" && t != "an" && p.q.Limit == 0 {
			p.q.Limit = n
			p.used[i] = true
		}
	}
}

// leftovers names the workload: the first name-shaped word nothing else
// accounts for.
func (p *parser) leftovers() {
	if p.q.Workload != "" {
		return
	}
	for i := range p.tok {
		if p.isName(i) && !intentCue(p.tok[i]) {
			p.q.Workload = p.tok[i]
			p.used[i] = true
			return
		}
	}
}
