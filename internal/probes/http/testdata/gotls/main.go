// Command gotls is a net/http server and client over Go's crypto/tls for
// the probe's tests, built by them (go build keeps the symbol table the
// probe reads):
//
//	gotls serve cert.pem key.pem
//
// serves HTTPS (HTTP/1.1 only) on a loopback port it prints with
// keepalive.Handler;
//
//	gotls serve-first-byte cert.pem key.pem
//
// the same, but reads each request's first byte in a Read of its own, as
// net/http's server may while a handler runs (its background read);
//
//	gotls client port ok missing method
//
// runs keepalive.Run against it and prints "done";
//
//	gotls grpc-serve cert.pem key.pem
//	gotls grpc-client port ok missing streams
//
// the same with keepalive's gRPC server and client (HTTP/2 over TLS);
//
//	gotls end-serve cert.pem key.pem
//	gotls end-client port path count [path count]...
//
// keepalive.EndHandler and RunEnd over HTTP/2 over TLS; the client prints
// "done";
//
//	gotls calls n payload cert.pem key.pem
//
// makes a TLS connection in memory (handshake over net.Pipe, then a
// buffer) and, once told on stdin (having printed "ready"), sends n records
// of payload ("head": a request head, else 64 bytes that are none) in one
// goroutine, each one (*Conn).Write and one Read, and prints the
// nanoseconds per iteration, the best of 5 rounds.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 4 && (os.Args[1] == "serve" || os.Args[1] == "serve-first-byte"):
		err = serve(os.Args[2], os.Args[3], os.Args[1] == "serve-first-byte")
	case len(os.Args) == 4 && os.Args[1] == "grpc-serve":
		err = serveGRPC(os.Args[2], os.Args[3])
	case len(os.Args) == 6 && os.Args[1] == "grpc-client":
		err = runGRPC(os.Args[2:])
	case len(os.Args) == 4 && os.Args[1] == "end-serve":
		err = serveEnd(os.Args[2], os.Args[3])
	case len(os.Args) >= 5 && os.Args[1] == "end-client":
		// The test's self-signed certificate; HTTP/2 (ALPN h2).
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
		if err = keepalive.RunEnd(&http.Client{Transport: tr}, "https://127.0.0.1:"+os.Args[2], os.Args[3:]); err == nil {
			fmt.Println("done")
		}
	case len(os.Args) == 6 && os.Args[1] == "calls":
		n, _ := strconv.Atoi(os.Args[2])
		err = calls(os.Args[4], os.Args[5], n, os.Args[3])
	case len(os.Args) == 6 && os.Args[1] == "client":
		ok, _ := strconv.Atoi(os.Args[3])
		missing, _ := strconv.Atoi(os.Args[4])
		// The test's self-signed certificate; HTTP/1.1 only.
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}
		if err = keepalive.Run(tr, "https://127.0.0.1:"+os.Args[2], ok, missing, os.Args[5]); err == nil {
			fmt.Println("done")
		}
	default:
		err = errors.New("usage: gotls serve cert key | gotls client port ok missing method")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func serveGRPC(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	l, err := listenLoopback()
	if err != nil {
		return err
	}
	return keepalive.ServeGRPC(l, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
}

// serveEnd serves keepalive.EndHandler over HTTPS (HTTP/2 by ALPN) on a
// loopback port it prints.
func serveEnd(certFile, keyFile string) error {
	l, err := listenLoopback()
	if err != nil {
		return err
	}
	return (&http.Server{Handler: keepalive.EndHandler}).ServeTLS(l, certFile, keyFile)
}

// listenLoopback listens on a loopback port and prints it.
func listenLoopback() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return l, err
}

// runGRPC runs keepalive.RunGRPC against 127.0.0.1:port; args are port,
// ok, missing, streams.
func runGRPC(args []string) error {
	n := make([]int, 3)
	for i := range n {
		n[i], _ = strconv.Atoi(args[i+1])
	}
	creds := credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}) // the test's self-signed certificate
	conn, err := grpc.NewClient("127.0.0.1:"+args[0], grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := keepalive.RunGRPC(conn, n[0], n[1], n[2]); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

func serve(certFile, keyFile string, firstByte bool) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	if !firstByte {
		return http.Serve(l, keepalive.Handler)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go serveFirstByte(c)
	}
}

// serveFirstByte answers each request of c with keepalive.Handler, having
// read its first byte alone.
func serveFirstByte(c net.Conn) {
	defer c.Close()
	for {
		first := make([]byte, 1)
		if _, err := io.ReadFull(c, first); err != nil {
			return
		}
		// The rest in one Read: the buffer holds the whole request.
		r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(first), c), 4096)
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		keepalive.Handler(w, req)
		if r.Buffered() > 0 {
			return // pipelined: not this server's case
		}
		// In one Write, as net/http's server does.
		out := bufio.NewWriter(c)
		fmt.Fprintf(out, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n", w.Code, http.StatusText(w.Code), w.Body.Len())
		out.Write(w.Body.Bytes())
		if out.Flush() != nil {
			return
		}
	}
}

func calls(certFile, keyFile string, n int, kind string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	a, b := net.Pipe()
	records := &bytes.Buffer{}
	clientConn, serverConn := &memoryConn{Conn: a, out: records}, &memoryConn{Conn: b, in: records}
	client := tls.Client(clientConn, &tls.Config{InsecureSkipVerify: true})
	server := tls.Server(serverConn, &tls.Config{Certificates: []tls.Certificate{cert}})
	handshake := make(chan error, 1)
	go func() { handshake <- server.Handshake() }()
	if err := errors.Join(client.Handshake(), <-handshake); err != nil {
		return err
	}
	clientConn.memory, serverConn.memory = true, true
	payload := []byte("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if kind != "head" {
		payload = bytes.Repeat([]byte("x"), 64)
	}
	buf := make([]byte, 4096)
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	best := time.Duration(1 << 62)
	for range 5 {
		begin := time.Now()
		for range n {
			if _, err := client.Write(payload); err != nil {
				return err
			}
			if _, err := server.Read(buf); err != nil {
				return err
			}
		}
		best = min(best, time.Since(begin))
	}
	fmt.Println(best.Nanoseconds() / int64(n))
	return nil
}

// memoryConn is a net.Pipe end for the handshake, then (memory) a buffer:
// the client's records go to the server's buffer, in one goroutine.
type memoryConn struct {
	net.Conn
	memory  bool
	in, out *bytes.Buffer
}

func (c *memoryConn) Read(p []byte) (int, error) {
	if c.memory {
		return c.in.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *memoryConn) Write(p []byte) (int, error) {
	if c.memory {
		return c.out.Write(p)
	}
	return c.Conn.Write(p)
}
