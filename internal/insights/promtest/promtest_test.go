package promtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestServerServesBackfilledHistory: a sample written to the history is
// what the server answers for that instant.
func TestServerServesBackfilledHistory(t *testing.T) {
	Require(t)
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	h := NewHistory()
	every(end.Add(-time.Hour), end, ScrapeInterval, func(ts time.Time) {
		h.Add("orb8_test_total", map[string]string{"cgroup": "/a"}, ts, float64(ts.Sub(end.Add(-time.Hour))/ScrapeInterval))
	})
	s, err := Start(h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	q := url.Values{"query": {`orb8_test_total{cgroup="/a"}`}, "time": {end.Add(-30 * time.Minute).Format(time.RFC3339)}}
	resp, err := http.Get(s.URL + "/api/v1/query?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Data.Result) != 1 || body.Data.Result[0].Value[1] != "120" {
		t.Fatalf("answer %+v, want one series = 120 (30 min of 15 s steps); log:\n%s", body.Data.Result, s.Log())
	}
}

func BenchmarkStartAll(b *testing.B) {
	Require(b)
	for range b.N {
		s, err := Start(All(time.Now().Add(-time.Minute).Truncate(time.Second)))
		if err != nil {
			b.Fatal(err)
		}
		s.Stop()
	}
}
