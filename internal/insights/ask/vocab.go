package ask

import "slices"

// Words the parser knows: a token that is none of these (nor a cue of a
// metric or an intent) and looks like a Kubernetes name names a namespace
// or a workload.
var stopWords = []string{
	// question and function words
	"what", "what's", "whats", "which", "who", "whom", "whose", "where", "when", "why", "how", "is", "are", "was",
	"were", "be", "been", "being", "am", "has", "have", "had", "having", "do", "does", "did", "doing", "done",
	"the", "a", "an", "of", "for", "in", "on", "at", "by", "per", "to", "from", "with", "without", "into", "onto",
	"about", "over", "under", "during", "since", "until", "within", "between", "before", "after", "than", "then",
	"and", "or", "but", "not", "no", "any", "anything", "everything", "something", "all", "every", "each", "some",
	"this", "that", "these", "those", "there", "here", "it", "its", "it's", "itself", "they", "them", "their",
	"we", "us", "our", "ours", "i", "me", "my", "you", "your", "he", "she", "his", "her", "one", "ones",
	"can", "could", "would", "will", "should", "shall", "may", "might", "must", "please", "so", "too", "very",
	"much", "many", "more", "less", "most", "least", "few", "fewer", "fewest", "lot", "lots", "times", "time",
	"ever", "currently", "now", "right", "just", "only", "also", "still", "yet", "again", "ago", "up", "down",
	"out", "off", "as", "like", "via", "across", "around", "among", "overall", "total", "average", "avg", "mean",
	// verbs and adjectives of questions about usage
	"show", "list", "give", "get", "gets", "got", "tell", "find", "see", "display", "print", "report", "rank",
	"use", "uses", "used", "using", "usage", "consume", "consumes", "consuming", "consumption", "consumers",
	"users", "user", "make", "makes", "made", "making", "take", "takes", "taking", "eat", "eats", "eating",
	"run", "runs", "running", "go", "goes", "going", "hit", "cause", "caused", "causes", "raise", "raised",
	"increase", "increased", "increases", "break", "broke", "broken", "hurt", "hurts", "slow", "slower",
	"worse", "better", "change", "changed", "changes", "compare", "comparison", "spike", "spiked", "grow",
	"grew", "growing", "leak", "leaks", "leaking", "return", "returns", "returned", "hold", "holds",
	"need", "needs", "needed", "want", "wants", "happen", "happened", "look", "looks", "seem", "seems",
	"top", "bottom", "highest", "high", "higher", "lowest", "low", "lower", "biggest", "big", "bigger",
	"largest", "large", "smallest", "small", "heaviest", "heavy", "longest", "long", "worst", "best",
	"hungry", "greedy", "noisiest", "quietest", "quiet", "expensive", "cheapest", "cheap", "idle", "level",
	"amount", "number", "count", "rate", "ratio", "percentage", "percent", "p50", "p90", "p95", "p99", "max",
	"maximum", "min", "minimum", "peak", "value", "figure", "stats", "statistics", "metrics", "metric",
	"usage", "utilization", "utilisation", "load", "everyone", "anyone", "us", "money", "dollars",
	"capacity", "planning", "plan", "ahead", "future", "upcoming", "replicas", "replica", "scale", "scaling",
	"new", "version", "versions", "last", "latest", "recent", "recently", "previous", "current", "past",
	"next", "hour", "hours", "minute", "minutes", "day", "days", "week", "weeks", "month", "months", "year",
	"years", "today", "yesterday", "tomorrow", "tonight", "morning", "evening", "night", "since",
	"limit", "limits", "request", "requests", "resources", "resource", "set", "give",
	"been", "kill", "kills", "killed", "killing", "wait", "waits", "waiting", "queue", "files", "file", "open",
	"everything", "cluster", "fleet", "whole", "entire", "each", "both",
	// protocol and unit words
	"http", "https", "grpc", "tcp", "udp", "ip", "query", "queries", "responses", "response", "second", "seconds",
	"ms", "millisecond", "milliseconds", "byte", "kb", "mb", "gb", "kib", "mib", "gib",
}

// kindWords name what rows are; singular ones may also name a workload
// ("the api deployment").
var kindWords = map[string]string{
	"pod": "pods", "pods": "pods", "container": "containers", "containers": "containers",
	"namespace": "namespaces", "namespaces": "namespaces", "ns": "namespaces",
	"node": "nodes", "nodes": "nodes", "machine": "nodes", "machines": "nodes",
	"workload": "workloads", "workloads": "workloads", "deployment": "workloads", "deployments": "workloads",
	"service": "workloads", "services": "workloads", "app": "workloads", "apps": "workloads",
	"application": "workloads", "applications": "workloads", "statefulset": "workloads", "statefulsets": "workloads",
	"daemonset": "workloads", "daemonsets": "workloads", "job": "workloads", "jobs": "workloads",
	"cronjob": "workloads", "cronjobs": "workloads", "process": "", "processes": "", "program": "", "programs": "",
}

func kindWord(t string) bool { _, ok := kindWords[t]; return ok }

func singularKind(t string) bool {
	return kindWord(t) && t != "ns" && t[len(t)-1] != 's' || t == "ns" || t == "process"
}

// known says whether the parser has a meaning for a word.
func known(t string) bool {
	if slices.Contains(stopWords, t) || kindWord(t) {
		return true
	}
	if _, ok := numberWords[t]; ok {
		return true
	}
	if _, ok := unit(t); ok {
		return true
	}
	for _, r := range metricRules {
		for _, g := range r.groups {
			if slices.Contains(g, t) {
				return true
			}
		}
	}
	return intentCue(t)
}

// intentStems are the word stems intent() looks for; intentWords are
// whole words (their stems would take names: "pay" and "payments").
var (
	intentStems = []string{
		"regress", "rollout", "deploy", "releas", "upgrade", "recommend", "rightsiz", "right-siz", "resiz",
		"suggest", "overprovision", "over-provision", "underprovision", "under-provision", "wast", "cost", "spend",
		"expensive", "cheap", "forecast", "predict", "hourly", "daily", "weekly", "monthly", "yearly", "annual",
	}
	intentWords = []string{"rolled", "price", "prices", "pricing", "pay", "paying", "paid", "bill", "billed", "billing", "project", "projected", "projection"}
)

func intentCue(t string) bool {
	if slices.Contains(intentWords, t) {
		return true
	}
	for _, c := range intentStems {
		if len(t) >= len(c) && t[:len(c)] == c {
			return true
		}
	}
	return false
}
