package dns

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

// The kernel tests run a DNS responder and DNS clients as separate processes
// (this test binary, re-executed as a testutil helper), each in its own test
// cgroup, inside a network namespace the test makes, so that they depend on
// nothing outside Go and their traffic never leaves the namespace.

const (
	netnsFD    = 3       // the namespace, handed down as ExtraFiles[0]
	nxPrefix   = "nx-"   // names the responder answers NXDOMAIN
	dropPrefix = "drop-" // names the responder never answers
	otherPort  = "5300"  // the responder answers there too: traffic the probe must ignore
)

func TestMain(m *testing.M) {
	helpers := map[string]func([]string) error{}
	for _, mode := range []string{"serve", "query", "flood", "spray", "raw"} {
		helpers[mode] = func([]string) error { return runHelper(mode) }
	}
	testutil.Helpers(m, helpers)
}

func runHelper(mode string) error {
	// Sockets are made in the namespace of the thread that makes them.
	runtime.LockOSThread()
	if err := unix.Setns(netnsFD, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace: %w", err)
	}
	switch mode {
	case "serve":
		return serve(os.Getenv("ORB8_DNS_ADDR"))
	case "query":
		return queryAll(os.Getenv("ORB8_DNS_PROTO"), os.Getenv("ORB8_DNS_SERVER"), os.Getenv("ORB8_DNS_QTYPE"),
			strings.Split(os.Getenv("ORB8_DNS_NAMES"), ","))
	case "flood":
		n, _ := strconv.Atoi(os.Getenv("ORB8_DNS_COUNT"))
		workers, _ := strconv.Atoi(os.Getenv("ORB8_DNS_WORKERS"))
		rate, _ := strconv.Atoi(os.Getenv("ORB8_DNS_RATE"))
		return flood(os.Getenv("ORB8_DNS_SERVER"), n, workers, rate)
	case "spray":
		n, _ := strconv.Atoi(os.Getenv("ORB8_DNS_COUNT"))
		return spray(os.Getenv("ORB8_DNS_SERVER"), n)
	case "raw":
		return sendRaw(os.Getenv("ORB8_DNS_SERVER"), strings.Split(os.Getenv("ORB8_DNS_RAW"), ","), os.Getenv("ORB8_DNS_UNCONNECTED") != "")
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// newNetns makes a network namespace with lo up and returns a handle to it.
func newNetns(t testing.TB) *os.File {
	t.Helper()
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the thread, moved to the new namespace, ends with this goroutine.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("unshare: %w", err)}
			return
		}
		if err := linkUp("lo"); err != nil {
			ch <- result{err: err}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		ch <- result{f, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("make network namespace: %v", r.err)
	}
	t.Cleanup(func() { r.f.Close() })
	return r.f
}

func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("flags of %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// helper starts this binary in mode inside cg and the namespace ns.
func helper(t testing.TB, cg *testutil.Cgroup, ns *os.File, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := cg.Helper(t, mode)
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = []*os.File{ns}
	return cmd
}

// startResponder runs the DNS responder on addr port 53 (UDP and TCP, and
// UDP on otherPort) in
// its own cgroup until the test ends.
func startResponder(t testing.TB, cg *testutil.Cgroup, ns *os.File, addr string) {
	t.Helper()
	testutil.StartPiped(t, helper(t, cg, ns, "serve", "ORB8_DNS_ADDR="+addr)).Expect(t, "ready")
}

// runQueries runs a client in cg that sends one query per name, and fails
// the test when a name the responder answers got no answer.
func runQueries(t testing.TB, cg *testutil.Cgroup, ns *os.File, proto, server, qtype string, names []string) {
	t.Helper()
	cmd := helper(t, cg, ns, "query", "ORB8_DNS_PROTO="+proto, "ORB8_DNS_SERVER="+server,
		"ORB8_DNS_QTYPE="+qtype, "ORB8_DNS_NAMES="+strings.Join(names, ","))
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s client: %v", proto, err)
	}
}

func serve(addr string) error {
	udp, err := net.ListenPacket("udp", net.JoinHostPort(addr, "53"))
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", net.JoinHostPort(addr, "53"))
	if err != nil {
		return err
	}
	other, err := net.ListenPacket("udp", net.JoinHostPort(addr, otherPort))
	if err != nil {
		return err
	}
	go serveUDP(udp)
	go serveUDP(other)
	go serveTCP(tcp)
	fmt.Println("ready")
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

func serveUDP(c net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := answer(buf[:n]); resp != nil {
			c.WriteTo(resp, from)
		}
	}
}

func serveTCP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				msg, err := readFrame(r)
				if err != nil {
					return
				}
				if resp := answer(msg); resp != nil {
					c.Write(tcpFrames(resp))
				}
			}
		}()
	}
}

// answer builds the response to a query: NXDOMAIN for nx- names, nothing for
// drop- names, else one A or AAAA record.
func answer(query []byte) []byte {
	var m dnsmessage.Message
	if err := m.Unpack(query); err != nil || len(m.Questions) != 1 {
		return nil
	}
	q := m.Questions[0]
	name := q.Name.String()
	if strings.HasPrefix(name, dropPrefix) {
		return nil
	}
	m.Header.Response = true
	switch {
	case strings.HasPrefix(name, nxPrefix):
		m.Header.RCode = dnsmessage.RCodeNameError
	case q.Type == dnsmessage.TypeA:
		m.Answers = []dnsmessage.Resource{aRecord(name, [4]byte{192, 0, 2, 1})}
	case q.Type == dnsmessage.TypeAAAA:
		m.Answers = []dnsmessage.Resource{aaaaRecord(name, [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})}
	}
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}

func newQuery(id uint16, name string, qtype dnsmessage.Type) []byte {
	m := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: qtype, Class: dnsmessage.ClassINET}},
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(n[:]))
	_, err := io.ReadFull(r, msg)
	return msg, err
}

// queryAll sends one query per name: over UDP, over one TCP connection one
// after the other, or over one TCP connection all in a single write
// ("tcp-pipelined"). Responses are checked against their queries.
func queryAll(proto, server, qtype string, names []string) error {
	ty := dnsmessage.TypeA
	if qtype == "AAAA" {
		ty = dnsmessage.TypeAAAA
	}
	network := "udp"
	if strings.HasPrefix(proto, "tcp") {
		network = "tcp"
	}
	c, err := net.Dial(network, server)
	if err != nil {
		return err
	}
	defer c.Close()
	queries := make([][]byte, len(names))
	for i, name := range names {
		queries[i] = newQuery(uint16(0x100+i), name, ty)
	}
	r := bufio.NewReader(c)
	switch proto {
	case "udp":
		for i, q := range queries {
			if _, err := c.Write(q); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			resp := make([]byte, 1500)
			n, err := c.Read(resp)
			if err := check(names[i], resp[:n], err); err != nil {
				return err
			}
		}
	case "tcp":
		for i, q := range queries {
			if _, err := c.Write(tcpFrames(q)); err != nil {
				return err
			}
			resp, err := readFrame(r)
			if err := check(names[i], resp, err); err != nil {
				return err
			}
		}
	case "tcp-pipelined":
		var all []byte
		for _, q := range queries {
			all = append(all, tcpFrames(q)...)
		}
		if _, err := c.Write(all); err != nil {
			return err
		}
		for _, name := range names {
			resp, err := readFrame(r)
			if err := check(name, resp, err); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown protocol %q", proto)
	}
	return nil
}

// check judges the response to name: none for drop- names, else one for it.
func check(name string, resp []byte, err error) error {
	if strings.HasPrefix(name, dropPrefix) {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		return fmt.Errorf("%s: want no response, got %v", name, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil || len(m.Questions) != 1 || m.Questions[0].Name.String() != name {
		return fmt.Errorf("%s: bad response %v", name, err)
	}
	return nil
}

// flood sends n A queries over UDP from workers sockets, each waiting for
// its response before the next, at most rate per second (0: as fast as it
// goes), and prints the time it took.
func flood(server string, n, workers, rate int) error {
	conns := make([]net.Conn, workers)
	for i := range conns {
		c, err := net.Dial("udp", server)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[i] = c
	}
	query := newQuery(0, "flood.example.", dnsmessage.TypeA)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := time.Now()
	for w, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := append([]byte(nil), query...)
			resp := make([]byte, 1500)
			for i := w; i < n; i += workers {
				if rate > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
				}
				binary.BigEndian.PutUint16(q, uint16(i))
				if _, err := c.Write(q); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(resp); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("query %d: %w", i, err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	fmt.Println(time.Since(start).Nanoseconds())
	return errors.Join(errs...)
}

// spray sends n queries the responder never answers from one UDP socket,
// ids 0..n-1, without waiting.
func spray(server string, n int) error {
	c, err := net.Dial("udp", server)
	if err != nil {
		return err
	}
	defer c.Close()
	q := newQuery(0, dropPrefix+"spray.example.", dnsmessage.TypeA)
	for i := range n {
		binary.BigEndian.PutUint16(q, uint16(i))
		if _, err := c.Write(q); err != nil {
			return fmt.Errorf("query %d: %w", i, err)
		}
	}
	return nil
}

// sendRaw sends each hex-encoded payload from one UDP socket and waits up to
// 300 ms for a response to each: for messages the responder may not answer.
// The socket is connected, unless unconnected (sendto, as some resolvers do).
func sendRaw(server string, payloads []string, unconnected bool) error {
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return err
	}
	var c *net.UDPConn
	if unconnected {
		c, err = net.ListenUDP("udp", nil)
	} else {
		c, err = net.DialUDP("udp", nil, to)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for _, p := range payloads {
		msg, err := hex.DecodeString(p)
		if err != nil {
			return err
		}
		if unconnected {
			_, err = c.WriteToUDP(msg, to)
		} else {
			_, err = c.Write(msg)
		}
		if err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := c.ReadFromUDP(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
	return nil
}
