package policy

import (
	"os"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts is
// valid and survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		minimal("a") + "---\n" + minimal("b"),
		"apiVersion: orb8.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: a, namespace: shop}\n" +
			"spec: {mode: monitor, selector: {podSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}}, rules: [{connect: {cidrs: [\"::/0\"]}, action: audit}]}\n",
		header + "metadata: {name: a}\nspec: {rules: [{connect: {cidrs: [10.0.0.1/8], ports: [70000]}, action: deny}]}\n",
		header + "metadata: {name: a}\nspec: {rules: [{exec: {paths: [sh]}, dns: {names: [X.]}, action: kil}]}\n",
		header + "metadata: {name: a}\nspec: {rules: [{exec: {pathz: [/bin/sh]}}]}\n",
		header + "metadata: {name: a}\nspec: {rules: [{exec: {paths: [/usr/bin/touch], argsContain: [forbidden, \"-c\"]}, action: kill}]}\n",
		header + "metadata: {name: a}\nspec: {rules: [{exec: {paths: [/bin/sh], argsContain: [\"\", \"a\\0b\", a, b, c, d, e, f, g]}, action: audit}]}\n",
		"a: [",
		"- 1\n---\n{}\n",
		"---\n---\n# only comments\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		policies, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		for _, p := range policies {
			if err := Validate(p); err != nil {
				t.Fatalf("Parse accepted an invalid policy: %v\n%#v", err, p)
			}
			out, err := Marshal(p)
			if err != nil {
				t.Fatalf("Marshal: %v\n%#v", err, p)
			}
			again, err := Parse(out, "fuzz")
			if err != nil {
				t.Fatalf("Parse(Marshal(p)): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again, []Policy{p}) {
				t.Fatalf("round trip changed the policy:\n got %#v\nwant %#v\n%s", again, p, out)
			}
		}
	})
}
