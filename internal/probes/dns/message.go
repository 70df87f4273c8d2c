package dns

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// The parser reads messages the kernel captured from any socket, so every
// byte is untrusted and the capture may end anywhere (see DNS_CAPTURE): it
// reads the header and the first question strictly, then as many answers as
// are complete, and never panics or loops.

const (
	headerLen = 12
	// maxNameLen is RFC 1035's limit on a name's wire length, labels and
	// length bytes together.
	maxNameLen = 255
	// maxPointers bounds the compression pointers followed in one name; real
	// messages need a handful.
	maxPointers = 32
	// maxAnswers bounds the answer records read from one message.
	maxAnswers = 16

	typeA    = 1
	typeAAAA = 28
)

// Errors a message can fail with.
var (
	ErrTruncated    = errors.New("dns: message truncated")
	ErrPointerLoop  = errors.New("dns: compression pointer does not point backwards or too many pointers")
	ErrNameTooLong  = errors.New("dns: name longer than 255 bytes")
	ErrLabelType    = errors.New("dns: unsupported label type")
	ErrNoQuestion   = errors.New("dns: message has no question")
	errNotCompleted = errors.New("dns: record incomplete")
)

// Message is what orb8 reads from a DNS message.
type Message struct {
	ID       uint16
	Response bool  // QR bit
	Opcode   uint8 // 0 is a standard query
	RCode    uint8 // the header's 4-bit response code
	// Truncated is the TC bit: the server cut the answer short (UDP).
	Truncated bool
	QDCount   uint16
	ANCount   uint16
	// Question is the first question; valid when QDCount > 0 and Parse
	// returned no error.
	Question Question
	// Answers are the answer records that were complete in the buffer, at
	// most maxAnswers: a capture may cut the section short.
	Answers []Answer
}

// Question is one entry of the question section.
type Question struct {
	Name  string // presentation form, e.g. "example.com."
	Type  uint16
	Class uint16
}

// Answer is one resource record of the answer section.
type Answer struct {
	Name string
	Type uint16
	TTL  uint32
	Addr netip.Addr // for A and AAAA records
}

// Parse reads a DNS message (without the TCP length prefix). On error the
// returned message holds what was read before it: the header is valid when
// the error is not ErrTruncated on a message shorter than 12 bytes.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) < headerLen {
		return m, ErrTruncated
	}
	m.ID = binary.BigEndian.Uint16(b[0:])
	flags := binary.BigEndian.Uint16(b[2:])
	m.Response = flags&0x8000 != 0
	m.Opcode = uint8(flags>>11) & 0xf
	m.Truncated = flags&0x0200 != 0
	m.RCode = uint8(flags & 0xf)
	m.QDCount = binary.BigEndian.Uint16(b[4:])
	m.ANCount = binary.BigEndian.Uint16(b[6:])
	if m.QDCount == 0 {
		return m, ErrNoQuestion
	}
	q, off, err := readQuestion(b, headerLen)
	if err != nil {
		return m, err
	}
	m.Question = q
	// Further questions are skipped: servers reject QDCOUNT > 1 in practice.
	for i := 1; i < int(m.QDCount); i++ {
		if _, off, err = readQuestion(b, off); err != nil {
			return m, nil // the answers are out of reach, the question is fine
		}
	}
	for i := 0; i < int(m.ANCount) && i < maxAnswers; i++ {
		var a Answer
		if a, off, err = readAnswer(b, off); err != nil {
			break
		}
		m.Answers = append(m.Answers, a)
	}
	return m, nil
}

func readQuestion(b []byte, off int) (Question, int, error) {
	name, off, err := readName(b, off)
	if err != nil {
		return Question{}, off, err
	}
	if off+4 > len(b) {
		return Question{}, off, ErrTruncated
	}
	q := Question{Name: name, Type: binary.BigEndian.Uint16(b[off:]), Class: binary.BigEndian.Uint16(b[off+2:])}
	return q, off + 4, nil
}

func readAnswer(b []byte, off int) (Answer, int, error) {
	name, off, err := readName(b, off)
	if err != nil {
		return Answer{}, off, err
	}
	if off+10 > len(b) {
		return Answer{}, off, errNotCompleted
	}
	a := Answer{Name: name, Type: binary.BigEndian.Uint16(b[off:]), TTL: binary.BigEndian.Uint32(b[off+4:])}
	rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
	off += 10
	if off+rdlen > len(b) {
		return Answer{}, off, errNotCompleted
	}
	rdata := b[off : off+rdlen]
	switch {
	case a.Type == typeA && rdlen == 4:
		a.Addr = netip.AddrFrom4([4]byte(rdata))
	case a.Type == typeAAAA && rdlen == 16:
		a.Addr = netip.AddrFrom16([16]byte(rdata))
	}
	return a, off + rdlen, nil
}

// readName reads a possibly compressed name at off and returns it with the
// offset just past it in the record (not past a pointer's target).
//
// Loops are impossible: a pointer must point before the label it replaces,
// at most maxPointers are followed, and the name may not grow past 255 bytes.
func readName(b []byte, off int) (string, int, error) {
	var (
		buf      [4 * maxNameLen]byte // room for every byte escaped as \DDD: one allocation per name, the string
		name     = buf[:0]
		wireLen  = 1 // the final root label
		pointers = 0
		next     = -1 // where the record goes on after the first pointer
	)
	for {
		if off >= len(b) {
			return "", off, ErrTruncated
		}
		c := int(b[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if next < 0 {
					next = off + 1
				}
				if len(name) == 0 {
					return ".", next, nil
				}
				return string(name), next, nil
			}
			if off+1+c > len(b) {
				return "", off, ErrTruncated
			}
			if wireLen += 1 + c; wireLen > maxNameLen {
				return "", off, ErrNameTooLong
			}
			name = appendLabel(name, b[off+1:off+1+c])
			off += 1 + c
		case 0xc0:
			if off+2 > len(b) {
				return "", off, ErrTruncated
			}
			target := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if pointers++; pointers > maxPointers || target >= off {
				return "", off, ErrPointerLoop
			}
			if next < 0 {
				next = off + 2
			}
			off = target
		default: // 0x40 extended and 0x80 reserved label types (RFC 6891)
			return "", off, ErrLabelType
		}
	}
}

// appendLabel writes a label and its dot, escaping what would make the name
// ambiguous or unprintable (RFC 4343 style \DDD and \.), so names are safe to
// print and log.
func appendLabel(name, label []byte) []byte {
	for _, c := range label {
		switch {
		case c == '.' || c == '\\':
			name = append(name, '\\', c)
		case c < '!' || c > '~':
			name = append(name, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
		default:
			name = append(name, c)
		}
	}
	return append(name, '.')
}
