package probe

// maxComms bounds a Comms; past it the names start over.
const maxComms = 4096

// Comms turns the kernel's 16-byte task names (comm) into strings,
// allocating each name once: a ring reader decoding tens of thousands of
// records a second otherwise allocates a string per record, and the
// garbage collector's work grows with it. Not safe for concurrent use: one
// per goroutine that decodes.
type Comms struct{ names map[[16]byte]string }

// Name returns comm as a string, up to its first NUL.
func (c *Comms) Name(comm [16]byte) string {
	if s, ok := c.names[comm]; ok {
		return s
	}
	if c.names == nil || len(c.names) >= maxComms {
		c.names = make(map[[16]byte]string)
	}
	s := CString(comm[:])
	c.names[comm] = s
	return s
}
