package testutil

import (
	"encoding/json"
	"os"
	"testing"
)

// DashboardQueries returns every PromQL expression of a dashboard file:
// panel targets ("expr") and variable queries ("definition").
func DashboardQueries(t testing.TB, path string) (exprs, variables []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			if d, ok := v["definition"].(string); ok && v["type"] == "query" {
				variables = append(variables, d)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	return exprs, variables
}
