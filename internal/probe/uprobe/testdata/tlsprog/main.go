// Command tlsprog links crypto/tls's (*Conn).Write and Read, for the
// tests to find them in its executable built several ways.
package main

import (
	"crypto/tls"
	"fmt"
)

func main() { fmt.Printf("%p %p\n", (*tls.Conn).Write, (*tls.Conn).Read) }
