// Package ask answers questions in plain words about the fleet: a
// deterministic parser turns a question into a structured Query (intent x
// metric x filters x time range), and the Query runs as one of the
// insights (rank, cost, recommend, forecast, regressions). No model: the
// same question always parses the same way, and a question it cannot parse
// gets told what it can answer.
package ask

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Intents a question can have.
const (
	IntentTop         = "top"         // rank pods, workloads, ... by a metric
	IntentValue       = "value"       // one workload's metric
	IntentCost        = "cost"        // what workloads, namespaces or nodes cost
	IntentRecommend   = "recommend"   // requests a workload should have
	IntentForecast    = "forecast"    // load and replicas ahead
	IntentRegressions = "regressions" // what rollouts made worse
)

// Query is a parsed question. Fields left empty take their defaults when
// it runs (Resolve).
type Query struct {
	Intent    string `json:"intent" yaml:"intent"`
	Metric    string `json:"metric,omitempty" yaml:"metric"`
	Kind      string `json:"kind,omitempty" yaml:"kind"` // pods, containers, workloads, namespaces, nodes
	Namespace string `json:"namespace,omitempty" yaml:"namespace"`
	Workload  string `json:"workload,omitempty" yaml:"workload"`
	// Range is the history asked about: a duration (30m, 6h, 2d) or
	// today / yesterday.
	Range string `json:"range,omitempty" yaml:"range"`
	Limit int    `json:"limit,omitempty" yaml:"limit"`
	Order string `json:"order,omitempty" yaml:"order"` // asc for least/lowest
	// Per is the period a cost is projected to (hour, day, week, month, year).
	Per string `json:"per,omitempty" yaml:"per"`
	// Horizon is how far a forecast looks ahead.
	Horizon string `json:"horizon,omitempty" yaml:"horizon"`
}

// String is the query as one line of JSON, as orb8 ask prints it.
func (q Query) String() string {
	b, _ := json.Marshal(q)
	return string(b)
}

// Capabilities says what ask can answer, for questions it cannot parse.
func Capabilities() string {
	return "answer which pods/workloads/namespaces have the most (or least) of a metric, one workload's metric, " +
		"what something costs (per hour/day/month), what requests a workload should have, forecasts and replicas, " +
		"or whether a rollout regressed; metrics: " + strings.Join(metricNames(), ", ") +
		`; e.g. "which pods in shop had the most DNS failures in the last hour"`
}

// ParseError is a question the parser could not make a query of.
type ParseError struct{ Question, Why string }

func (e *ParseError) Error() string {
	return fmt.Sprintf("cannot answer %q: %s. I can %s", e.Question, e.Why, Capabilities())
}
