package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// document is a policy resource as written in YAML or served by the API
// server. CIDRs and ports are decoded as strings and ints so that a bad one
// is reported with its field path rather than as a decoder error.
type document struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       spec              `json:"spec"`
	// Status is written by the agent on Kubernetes; accepted and ignored so
	// that `kubectl get -o yaml` output parses.
	Status json.RawMessage `json:"status,omitempty"`
}

type spec struct {
	Mode     Mode     `json:"mode,omitempty"`
	Selector Selector `json:"selector,omitzero"`
	Rules    []rule   `json:"rules"`
}

type rule struct {
	Exec    *ExecRule    `json:"exec,omitempty"`
	Connect *connectRule `json:"connect,omitempty"`
	DNS     *DNSRule     `json:"dns,omitempty"`
	Action  Action       `json:"action"`
}

type connectRule struct {
	CIDRs     []string `json:"cidrs"`
	Ports     []int    `json:"ports,omitempty"`
	Protocols []string `json:"protocols,omitempty"`
}

// Parse decodes and validates the policies in data, one per YAML document
// (documents are separated by "---" lines; empty ones are skipped and not
// counted). Unknown fields are errors, and names are case-sensitive, as
// on the API server. source is recorded in each Policy.
//
// Any error makes the whole of data bad: Parse then returns no policies and
// every problem found, one line each, as "doc N: field: problem" with N
// counted from 1.
func Parse(data []byte, source string) ([]Policy, error) {
	var policies []Policy
	var errs []error
	seen := map[string]int{}
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; {
		chunk, err := reader.Read()
		if err == io.EOF {
			break
		}
		prefix := fmt.Sprintf("doc %d: ", n)
		if err != nil {
			errs = append(errs, errors.New(prefix+err.Error()))
			break
		}
		p, empty, err := parseDocument(chunk, source)
		switch {
		case empty:
			continue
		case err != nil:
			errs = append(errs, prependLines(prefix, err))
		case seen[p.key()] != 0:
			errs = append(errs, fmt.Errorf("%smetadata.name: %s is already defined in doc %d", prefix, p.key(), seen[p.key()]))
		default:
			seen[p.key()] = n
			policies = append(policies, p)
		}
		n++
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return policies, nil
}

// ParseObject decodes and validates one policy object as the API server
// serves it (JSON); errors are "field: problem" lines, as Parse's without
// the document number.
func ParseObject(data []byte, source string) (Policy, error) {
	p, empty, err := parseDocument(data, source)
	if empty {
		return Policy{}, errors.New("empty object")
	}
	return p, err
}

// prependLines prefixes every line of err.
func prependLines(prefix string, err error) error {
	return errors.New(prefix + strings.ReplaceAll(err.Error(), "\n", "\n"+prefix))
}

// parseDocument decodes one YAML document; empty reports a document that
// holds nothing (only comments or whitespace).
func parseDocument(data []byte, source string) (p Policy, empty bool, err error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return Policy{}, false, errors.New(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	if string(js) == "null" {
		return Policy{}, true, nil
	}
	var doc document
	strictErrs, err := kjson.UnmarshalStrict(js, &doc)
	if err != nil {
		return Policy{}, false, decodeError(err)
	}
	if len(strictErrs) > 0 {
		return Policy{}, false, errors.Join(strictErrs...)
	}
	var errs fieldErrors
	switch {
	case doc.APIVersion != APIVersion:
		errs.add("apiVersion", "%q is not %s", doc.APIVersion, APIVersion)
	case doc.Kind != KindCluster && doc.Kind != KindNamespaced:
		errs.add("kind", "%q is not one of %s, %s", doc.Kind, KindCluster, KindNamespaced)
	default:
		p, errs = fromDocument(doc, source)
	}
	if len(errs) > 0 {
		return Policy{}, false, errs.join("")
	}
	return p, false, nil
}

// decodeError rewrites encoding/json's errors in the terms of the YAML.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "document"
		}
		return fmt.Errorf("%s: expected %s, got %s", field, typeName(typeErr.Type), typeErr.Value)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Uint16:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	}
	return "a string"
}

// fromDocument converts a decoded document and validates the result; a field
// that failed conversion is not reported again by validation.
func fromDocument(doc document, source string) (Policy, fieldErrors) {
	p := Policy{
		Kind:       doc.Kind,
		Name:       doc.Metadata.Name,
		Namespace:  doc.Metadata.Namespace,
		Generation: doc.Metadata.Generation,
		Mode:       doc.Spec.Mode,
		Selector:   normalSelector(doc.Spec.Selector),
		Source:     source,
	}
	if p.Mode == "" {
		p.Mode = ModeEnforce
	}
	var errs fieldErrors
	for i, r := range doc.Spec.Rules {
		field := fmt.Sprintf("spec.rules[%d]", i)
		out := Rule{Action: r.Action}
		if r.Exec != nil {
			out.Exec = &ExecRule{Paths: orNil(r.Exec.Paths), ArgsContain: orNil(r.Exec.ArgsContain)}
		}
		if r.Connect != nil {
			out.Connect = errs.connectRule(field+".connect", *r.Connect)
		}
		if r.DNS != nil {
			out.DNS = &DNSRule{Names: normalDNSNames(r.DNS.Names)}
		}
		p.Rules = append(p.Rules, out)
	}
	converted := map[string]bool{}
	for _, e := range errs {
		converted[e.Field] = true
	}
	for _, e := range validate(p) {
		if !converted[e.Field] {
			errs = append(errs, e)
		}
	}
	return p, errs
}

func (l *fieldErrors) connectRule(field string, r connectRule) *ConnectRule {
	out := &ConnectRule{Protocols: orNil(r.Protocols)}
	for i, s := range r.CIDRs {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			l.add(fmt.Sprintf("%s.cidrs[%d]", field, i), "%q is not a CIDR like 10.0.0.0/8 or fd00::/8", s)
		}
		out.CIDRs = append(out.CIDRs, prefix)
	}
	for i, port := range r.Ports {
		if port < 1 || port > 65535 {
			l.badPort(fmt.Sprintf("%s.ports[%d]", field, i), port)
			port = 0
		}
		out.Ports = append(out.Ports, uint16(port))
	}
	return out
}

// normalSelector makes empty lists and maps nil, so that equal selectors
// compare equal however they were written.
func normalSelector(s Selector) Selector {
	s.Namespaces, s.Containers, s.Cgroups = orNil(s.Namespaces), orNil(s.Containers), orNil(s.Cgroups)
	if ps := s.PodSelector; ps != nil {
		out := &LabelSelector{}
		if len(ps.MatchLabels) > 0 {
			out.MatchLabels = ps.MatchLabels
		}
		for _, r := range ps.MatchExpressions {
			r.Values = orNil(r.Values)
			out.MatchExpressions = append(out.MatchExpressions, r)
		}
		s.PodSelector = out
	}
	return s
}

// normalDNSNames lower-cases names and drops a trailing dot: DNS names are
// case-insensitive and "example.com." is "example.com".
func normalDNSNames(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, strings.TrimSuffix(strings.ToLower(n), "."))
	}
	return out
}

func orNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Marshal writes p as one YAML document that Parse reads back as p.
func Marshal(p Policy) ([]byte, error) {
	doc := document{
		APIVersion: APIVersion,
		Kind:       p.Kind,
		Metadata:   metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		Spec:       spec{Mode: p.Mode, Selector: p.Selector},
	}
	for _, r := range p.Rules {
		out := rule{Exec: r.Exec, DNS: r.DNS, Action: r.Action}
		if c := r.Connect; c != nil {
			out.Connect = &connectRule{Protocols: c.Protocols}
			for _, prefix := range c.CIDRs {
				out.Connect.CIDRs = append(out.Connect.CIDRs, prefix.String())
			}
			for _, port := range c.Ports {
				out.Connect.Ports = append(out.Connect.Ports, int(port))
			}
		}
		doc.Spec.Rules = append(doc.Spec.Rules, out)
	}
	return yaml.Marshal(doc)
}
