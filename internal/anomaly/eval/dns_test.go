package eval

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
)

// query is a DNS query for the A record of name, with id.
func query(id uint16, name string) []byte {
	msg := binary.BigEndian.AppendUint16(nil, id)
	msg = append(msg, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		msg = append(msg, byte(len(label)))
		msg = append(msg, label...)
	}
	return append(msg, 0, 0, 1, 0, 1) // root; A; IN
}

// parseQuery is the id and name of a query with one question; an error
// for anything else.
func parseQuery(msg []byte) (id uint16, name string, question []byte, err error) {
	if len(msg) < 12 || msg[2]&0x80 != 0 || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return 0, "", nil, errors.New("not a query with one question")
	}
	var labels []string
	i := 12
	for {
		if i >= len(msg) {
			return 0, "", nil, errors.New("name runs past the message")
		}
		n := int(msg[i])
		if n == 0 {
			break
		}
		if n > 63 || i+1+n > len(msg) {
			return 0, "", nil, errors.New("bad label")
		}
		labels = append(labels, string(msg[i+1:i+1+n]))
		i += 1 + n
	}
	if i+5 > len(msg) {
		return 0, "", nil, errors.New("question cut short")
	}
	return binary.BigEndian.Uint16(msg), strings.Join(labels, "."), msg[12 : i+5], nil
}

// response answers a query: NOERROR without records (rcode 0) or
// NXDOMAIN (3), the question echoed.
func response(id uint16, question []byte, rcode byte) []byte {
	msg := binary.BigEndian.AppendUint16(nil, id)
	msg = append(msg, 0x81, 0x80|rcode, 0, 1, 0, 0, 0, 0, 0, 0)
	return append(msg, question...)
}

// serveDNS answers on c: NOERROR for the names known says yes to,
// NXDOMAIN for the others, until c closes.
func serveDNS(c net.PacketConn, known func(string) bool) {
	buf := make([]byte, 512)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		id, name, q, err := parseQuery(buf[:n])
		if err != nil {
			continue
		}
		rcode := byte(3)
		if known(name) {
			rcode = 0
		}
		_, _ = c.WriteTo(response(id, q, rcode), from)
	}
}

func TestQueryRoundTrip(t *testing.T) {
	id, name, q, err := parseQuery(query(7, "api.shop.example."))
	if err != nil || id != 7 || name != "api.shop.example" || len(q) != 18+4 {
		t.Fatalf("parsed %d %q %d bytes: %v", id, name, len(q), err)
	}
	r := response(7, q, 3)
	if r[3]&0xf != 3 || r[2]&0x80 == 0 {
		t.Fatalf("response header %x", r[:4])
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add(query(1, "a.b.example"))
	f.Add([]byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63})
	f.Fuzz(func(t *testing.T, msg []byte) {
		id, name, q, err := parseQuery(msg)
		if err != nil {
			return
		}
		if len(name) > len(msg) || len(q) > len(msg) {
			t.Fatalf("name %q or question longer than the message", name)
		}
		again, name2, _, err := parseQuery(append(msg[:12:12], q...))
		if err != nil || again != id || name2 != name {
			t.Fatalf("the question of %x does not parse again: %v", msg, err)
		}
	})
}
