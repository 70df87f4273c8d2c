package ask

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type corpusEntry struct {
	Set  string `yaml:"set"`
	Q    string `yaml:"q"`
	Want Query  `yaml:"want"`
}

// TestCorpusAccuracy parses every question of testdata/corpus.yaml and
// compares the structured query with the expected one, field by field:
// accuracy is the share parsed exactly, at least 95% over the corpus.
func TestCorpusAccuracy(t *testing.T) {
	data, err := os.ReadFile("testdata/corpus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var corpus []corpusEntry
	if err := yaml.Unmarshal(data, &corpus); err != nil {
		t.Fatal(err)
	}
	if len(corpus) < 150 {
		t.Fatalf("%d questions, want at least 150", len(corpus))
	}
	right := map[string]int{}
	total := map[string]int{}
	for _, c := range corpus {
		total[c.Set]++
		got, err := Parse(c.Q)
		if err == nil && got == c.Want {
			right[c.Set]++
			continue
		}
		t.Logf("miss (%s) %q:\n   got  %v %v\n   want %v", c.Set, c.Q, got, err, c.Want)
	}
	all := right["dev"] + right["heldout"] + right["fresh"]
	acc := float64(all) / float64(len(corpus))
	t.Logf("accuracy %d/%d = %.1f%% (dev %d/%d, held out %d/%d, fresh %d/%d)", all, len(corpus), 100*acc,
		right["dev"], total["dev"], right["heldout"], total["heldout"], right["fresh"], total["fresh"])
	if acc < 0.95 {
		t.Errorf("accuracy %.1f%%, want at least 95%%", 100*acc)
	}
}

func TestUnparsableSaysWhatItCanAnswer(t *testing.T) {
	for _, q := range []string{"", "   ", "what's the weather in paris", "hello", "?!"} {
		_, err := Parse(q)
		if err == nil {
			t.Errorf("Parse(%q): no error", q)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "I can answer which pods") && !strings.Contains(msg, "metrics: ") {
			t.Errorf("Parse(%q): %q does not say what it can answer", q, msg)
		}
	}
}

// FuzzParse: any input parses or errs without panicking, and a parsed
// query always has an intent and only names the parser could have read.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"which pods in shop had the most DNS failures in the last hour", "what would web cost per month",
		"top 5 pods by cpu", "in namespace", "last", "per", "the deployment", "pod", "next 3", "namespace=shop cpu"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			return
		}
		if q.Intent == "" {
			t.Fatalf("Parse(%q) = %+v without an intent", s, q)
		}
		for _, name := range []string{q.Namespace, q.Workload} {
			if name != "" && !nameRE.MatchString(name) {
				t.Fatalf("Parse(%q) named %q", s, name)
			}
		}
	})
}
