package dns

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// build packs a message with the reference implementation.
func build(t testing.TB, id uint16, response bool, rcode dnsmessage.RCode, name string, qtype dnsmessage.Type, answers ...dnsmessage.Resource) []byte {
	t.Helper()
	m := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, Response: response, RCode: rcode, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET}},
		Answers:   answers,
	}
	b, err := m.Pack() // compresses the answers' names into pointers to the question
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func aRecord(name string, ip [4]byte) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
		Body:   &dnsmessage.AResource{A: ip},
	}
}

func aaaaRecord(name string, ip [16]byte) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET, TTL: 60},
		Body:   &dnsmessage.AAAAResource{AAAA: ip},
	}
}

// header is a raw 12-byte header with one question and ancount answers.
func header(ancount byte) []byte {
	return []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, ancount, 0, 0, 0, 0}
}

func TestParseQueryAndCompressedResponse(t *testing.T) {
	q, err := Parse(build(t, 0xbeef, false, 0, "www.example.com.", dnsmessage.TypeAAAA))
	if err != nil {
		t.Fatal(err)
	}
	if q.ID != 0xbeef || q.Response || q.Question.Name != "www.example.com." || q.Question.Type != typeAAAA || q.Question.Class != 1 {
		t.Fatalf("query = %+v", q)
	}

	six := netip.MustParseAddr("2001:db8::1")
	resp := build(t, 7, true, dnsmessage.RCodeSuccess, "example.com.", dnsmessage.TypeA,
		aRecord("example.com.", [4]byte{192, 0, 2, 1}), aRecord("example.com.", [4]byte{192, 0, 2, 2}),
		aaaaRecord("v6.example.com.", six.As16()))
	if !bytes.Contains(resp, []byte{0xc0, headerLen}) {
		t.Fatal("test message has no compression pointer to the question")
	}
	r, err := Parse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Response || r.RCode != 0 || r.ANCount != 3 || len(r.Answers) != 3 {
		t.Fatalf("response = %+v", r)
	}
	want := []Answer{
		{Name: "example.com.", Type: typeA, TTL: 60, Addr: netip.MustParseAddr("192.0.2.1")},
		{Name: "example.com.", Type: typeA, TTL: 60, Addr: netip.MustParseAddr("192.0.2.2")},
		{Name: "v6.example.com.", Type: typeAAAA, TTL: 60, Addr: six},
	}
	for i, a := range want {
		if r.Answers[i] != a {
			t.Errorf("answer %d = %+v, want %+v", i, r.Answers[i], a)
		}
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	longLabel := append([]byte{64}, bytes.Repeat([]byte{'a'}, 64)...)
	// 5 labels of 63 bytes: 320 wire bytes, over the 255 limit.
	var longName []byte
	for range 5 {
		longName = append(longName, 63)
		longName = append(longName, bytes.Repeat([]byte{'b'}, 63)...)
	}
	longName = append(longName, 0)
	question := func(name ...byte) []byte {
		return append(append(header(0), name...), 0, 1, 0, 1)
	}
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short header", header(0)[:11], ErrTruncated},
		{"no question", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrNoQuestion},
		{"name runs past the end", append(header(0), 3, 'w', 'w'), ErrTruncated},
		{"name without end", append(header(0), 1, 'a'), ErrTruncated},
		{"type cut off", append(header(0), 0, 0), ErrTruncated},
		{"pointer to itself", question(0xc0, headerLen), ErrPointerLoop},
		{"pointer forward", question(0xc0, headerLen+2, 0), ErrPointerLoop},
		{"pointer past the end", question(0xc0, 0xff), ErrPointerLoop},
		{"half a pointer", append(header(0), 0xc0), ErrTruncated},
		// A label, then a pointer back to it: a loop that the pointer limit ends.
		{"label-pointer cycle", question(1, 'a', 0xc0, headerLen), ErrPointerLoop},
		// The same with a long label: the name limit ends it first.
		{"long label-pointer cycle", question(append(append([]byte{63}, bytes.Repeat([]byte{'c'}, 63)...), 0xc0, headerLen)...), ErrNameTooLong},
		{"63+ label is a reserved type", question(longLabel...), ErrLabelType},
		{"extended label type", question(0x41, 0), ErrLabelType},
		{"name over 255 bytes", question(longName...), ErrNameTooLong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.msg)
			if !errors.Is(err, c.want) {
				t.Fatalf("Parse(% x) error = %v, want %v", c.msg, err, c.want)
			}
		})
	}
}

func TestParseChainOfPointersIsBounded(t *testing.T) {
	// The root name at offset 12, then pointers that each point at the one
	// before: following the last one takes maxPointers+1 jumps.
	msg := append(header(0), 0)
	target := headerLen
	for range maxPointers + 1 {
		at := len(msg)
		msg = append(msg, 0xc0, byte(target))
		target = at
	}
	last, secondLast := len(msg)-2, len(msg)-4
	if _, _, err := readName(msg, last); !errors.Is(err, ErrPointerLoop) {
		t.Fatalf("%d chained pointers: err = %v, want %v", maxPointers+1, err, ErrPointerLoop)
	}
	if name, next, err := readName(msg, secondLast); err != nil || name != "." || next != secondLast+2 {
		t.Fatalf("%d chained pointers: %q, %d, %v; want the root name ending at %d", maxPointers, name, next, err, secondLast+2)
	}
}

func TestParseEscapesUnprintableLabels(t *testing.T) {
	msg := append(header(0), 4, 'a', '.', 0, '\\', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1)
	m, err := Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if want := `a\.\000\\.com.`; m.Question.Name != want {
		t.Fatalf("name = %q, want %q", m.Question.Name, want)
	}
}

// Every cut of a valid response parses without panicking; the header and
// question survive cuts inside the answers, which are dropped whole.
func TestParseEveryTruncation(t *testing.T) {
	full := build(t, 1, true, dnsmessage.RCodeNameError, "cut.example.", dnsmessage.TypeA,
		aRecord("cut.example.", [4]byte{10, 0, 0, 1}), aRecord("cut.example.", [4]byte{10, 0, 0, 2}))
	qEnd := headerLen + len("\x03cut\x07example\x00") + 4
	for n := range len(full) {
		m, err := Parse(full[:n])
		switch {
		case n < headerLen:
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("cut at %d: err = %v", n, err)
			}
		case n < qEnd:
			if !errors.Is(err, ErrTruncated) || m.RCode != 3 || m.ANCount != 2 {
				t.Fatalf("cut at %d: %+v, %v; want the header and ErrTruncated", n, m, err)
			}
		default:
			if err != nil || m.Question.Name != "cut.example." || len(m.Answers) > 2 {
				t.Fatalf("cut at %d: %+v, %v", n, m, err)
			}
			if complete := (n - qEnd) / 16; len(m.Answers) != complete { // each answer is 16 bytes
				t.Fatalf("cut at %d: %d answers, want %d", n, len(m.Answers), complete)
			}
		}
	}
}

func TestTypeAndRCodeNamesAreBounded(t *testing.T) {
	seen := map[string]bool{}
	for ty := range 1 << 16 {
		seen[TypeName(uint16(ty))] = true
	}
	if len(seen) != len(typeNames)+1 {
		t.Fatalf("%d qtype label values, want %d", len(seen), len(typeNames)+1)
	}
	if TypeName(1) != "A" || TypeName(65) != "HTTPS" || TypeName(4242) != otherLabel {
		t.Fatal("type names wrong")
	}
	if RCodeName(0) != "NOERROR" || RCodeName(3) != "NXDOMAIN" || RCodeName(2) != "SERVFAIL" || RCodeName(5) != "REFUSED" || RCodeName(0xff) != "RCODE15" {
		t.Fatal("rcode names wrong")
	}
}

// FuzzParse checks that no input panics or loops, and that messages the
// reference implementation reads are read the same way.
func FuzzParse(f *testing.F) {
	f.Add(build(f, 1, false, 0, "example.com.", dnsmessage.TypeA))
	f.Add(build(f, 2, true, dnsmessage.RCodeNameError, "nx.example.", dnsmessage.TypeAAAA))
	f.Add(build(f, 3, true, 0, "a.example.", dnsmessage.TypeA, aRecord("a.example.", [4]byte{1, 2, 3, 4}), aRecord("b.a.example.", [4]byte{5, 6, 7, 8})))
	f.Add(append(header(0), 0xc0, headerLen, 0, 1, 0, 1))
	f.Add(append(header(1), 1, 'a', 0xc0, headerLen, 0, 1, 0, 1))
	f.Add(append(header(0), 0x41, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if len(m.Answers) > maxAnswers || len(m.Answers) > int(m.ANCount) {
			t.Fatalf("%d answers of %d", len(m.Answers), m.ANCount)
		}
		// Escaped names are at most 4 bytes per wire byte.
		if len(m.Question.Name) > 4*maxNameLen {
			t.Fatalf("name of %d bytes", len(m.Question.Name))
		}
		var p dnsmessage.Parser
		h, err := p.Start(b)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		if h.ID != m.ID || h.Response != m.Response || uint8(h.RCode)&0xf != m.RCode || uint16(q.Type) != m.Question.Type {
			t.Fatalf("header/question differ: ours %+v, reference %+v %+v", m, h, q)
		}
		// Without escapes in ours, every label was plain text: the names must be equal.
		if ref := q.Name.String(); !strings.Contains(m.Question.Name, "\\") && ref != m.Question.Name {
			t.Fatalf("name %q, reference %q", m.Question.Name, ref)
		}
	})
}
