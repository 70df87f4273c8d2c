package network

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

// The tests run their peers as helper processes: the test binary itself,
// re-executed inside a test cgroup (testutil.Helpers), in the network
// namespace this variable names, if any.
const helperNetnsEnv = "ORB8_NETWORK_HELPER_NETNS" // a /run/netns path to enter first

func TestMain(m *testing.M) {
	helpers := map[string]func([]string) error{}
	for _, role := range []string{"serve", "send", "stream", "connect", "connect-many", "udp-echo", "udp-send"} {
		helpers[role] = func(args []string) error { return runHelper(role, args) }
	}
	testutil.Helpers(m, helpers)
}

// report is what a TCP helper prints when done: what it moved, and the
// kernel's own per-socket counts (tcp_info) taken just before close.
type report struct {
	Tx, Rx        int
	DataSegsOut   uint32
	DataSegsIn    uint32
	Local, Remote string
	PID           int
}

// runHelper plays one side of a test conversation with plain syscalls, so
// exactly the bytes the test expects cross each socket.
func runHelper(role string, args []string) error {
	if ns := os.Getenv(helperNetnsEnv); ns != "" {
		// Sockets live in the namespace of the thread that creates them.
		runtime.LockOSThread()
		fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter %s: %w", ns, err)
		}
		unix.Close(fd)
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch role {
	case "serve": // serve ADDR MODE REPLY: accept one connection, read to EOF, reply, close
		return serve(netip.MustParseAddrPort(arg(0)), arg(1), arg(2))
	case "send": // send ADDR MODE BYTES: connect, send, half-close, read to EOF, close
		return send(netip.MustParseAddrPort(arg(0)), arg(1), arg(2))
	case "stream": // stream ADDR MODE SEND RECV: connect (accept, for port 0), send, receive, report, then obey stdin
		return stream(netip.MustParseAddrPort(arg(0)), arg(1), arg(2), arg(3))
	case "connect": // connect ADDR SYNCNT: one attempt, reports the error
		return connectOnce(netip.MustParseAddrPort(arg(0)), arg(1))
	case "connect-many": // connect-many ADDR N: N connections, each closed once established
		return connectMany(netip.MustParseAddrPort(arg(0)), arg(1))
	case "udp-echo": // udp-echo ADDR COUNT REPLY: answer COUNT datagrams with REPLY bytes each
		return udpEcho(netip.MustParseAddrPort(arg(0)), arg(1), arg(2))
	case "udp-send": // udp-send ADDR COUNT SIZE: send COUNT datagrams of SIZE bytes, wait for each answer
		return udpSend(netip.MustParseAddrPort(arg(0)), arg(1), arg(2))
	}
	return fmt.Errorf("unknown helper role %q", role)
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func socket(ap netip.AddrPort, typ int) (int, error) {
	family := unix.AF_INET6
	if ap.Addr().Is4() {
		family = unix.AF_INET
	}
	return unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
}

// listen binds ap and prints the port it got.
func listen(ap netip.AddrPort, typ int) (int, error) {
	fd, err := socket(ap, typ)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, sockaddr(ap)); err != nil {
		return -1, err
	}
	if typ == unix.SOCK_STREAM {
		if err := unix.Listen(fd, 8); err != nil {
			return -1, err
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return -1, err
	}
	fmt.Printf("port %d\n", addrPort(sa).Port())
	return fd, nil
}

func dial(ap netip.AddrPort) (int, error) {
	fd, err := socket(ap, unix.SOCK_STREAM)
	if err != nil {
		return -1, err
	}
	return fd, unix.Connect(fd, sockaddr(ap))
}

func serve(ap netip.AddrPort, mode, reply string) error {
	lfd, err := listen(ap, unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		return err
	}
	unix.Close(lfd)
	r := endpoints(fd)
	if r.Rx, err = receive(fd, mode, -1); err != nil {
		return err
	}
	n, _ := strconv.Atoi(reply)
	if r.Tx, err = transmit(fd, mode, n); err != nil {
		return err
	}
	return finish(fd, r)
}

func send(ap netip.AddrPort, mode, size string) error {
	fd, err := dial(ap)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(size)
	r := endpoints(fd)
	if r.Tx, err = transmit(fd, mode, n); err != nil {
		return err
	}
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return err
	}
	if r.Rx, err = receive(fd, mode, -1); err != nil {
		return err
	}
	return finish(fd, r)
}

// endpoints starts the report of a connected socket.
func endpoints(fd int) report {
	local, _ := unix.Getsockname(fd)
	remote, _ := unix.Getpeername(fd)
	return report{Local: addrPort(local).String(), Remote: addrPort(remote).String(), PID: os.Getpid()}
}

// finish reports and closes: tcp_info now holds the socket's final data segment counts.
func finish(fd int, r report) error {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return err
	}
	r.DataSegsOut, r.DataSegsIn = info.Data_segs_out, info.Data_segs_in
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return err
	}
	return unix.Close(fd)
}

// transmit sends n bytes with write(2), or with sendfile(2) from a file in mode "splice".
func transmit(fd int, mode string, n int) (int, error) {
	if mode != "splice" {
		buf := make([]byte, 64<<10)
		sent := 0
		for sent < n {
			w, err := unix.Write(fd, buf[:min(len(buf), n-sent)])
			if err != nil {
				return sent, err
			}
			sent += w
		}
		return sent, nil
	}
	f, err := os.CreateTemp("", "orb8-sendfile-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Truncate(int64(n)); err != nil {
		return 0, err
	}
	var off int64
	for off < int64(n) {
		if _, err := unix.Sendfile(fd, int(f.Fd()), &off, n-int(off)); err != nil {
			return int(off), err
		}
	}
	return int(off), nil
}

// receive reads n bytes, or to EOF for n < 0, with read(2), or with
// splice(2) through a pipe to /dev/null in mode "splice".
func receive(fd int, mode string, n int) (int, error) {
	const chunk = 64 << 10
	want := func(got int) int {
		if n < 0 {
			return chunk
		}
		return min(chunk, n-got)
	}
	got := 0
	if mode != "splice" {
		buf := make([]byte, chunk)
		for want(got) > 0 {
			r, err := unix.Read(fd, buf[:want(got)])
			if err != nil || r == 0 {
				return got, err
			}
			got += r
		}
		return got, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(null)
	for want(got) > 0 {
		r, err := unix.Splice(fd, nil, p[1], nil, want(got), unix.SPLICE_F_MOVE)
		if err != nil || r == 0 {
			return got, err
		}
		got += int(r)
		for left := r; left > 0; {
			w, err := unix.Splice(p[0], nil, null, nil, int(left), unix.SPLICE_F_MOVE)
			if err != nil {
				return got, err
			}
			left -= w
		}
	}
	return got, nil
}

func stream(ap netip.AddrPort, mode, send, recv string) error {
	var fd int
	var err error
	if ap.Port() == 0 {
		lfd, err := listen(ap, unix.SOCK_STREAM)
		if err != nil {
			return err
		}
		if fd, _, err = unix.Accept4(lfd, unix.SOCK_CLOEXEC); err != nil {
			return err
		}
	} else if fd, err = dial(ap); err != nil {
		return err
	}
	r := endpoints(fd)
	tx, _ := strconv.Atoi(send)
	rx, _ := strconv.Atoi(recv)
	if r.Tx, err = transmit(fd, mode, tx); err != nil {
		return err
	}
	if r.Rx, err = receive(fd, mode, rx); err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return err
	}
	// Then commands: "send N" sends N more bytes, "abort" resets the
	// connection (SO_LINGER 0: nothing lingers on), EOF closes it.
	for in := bufio.NewScanner(os.Stdin); in.Scan(); {
		var n int
		switch _, err := fmt.Sscanf(in.Text(), "send %d", &n); {
		case err == nil:
			if _, err := transmit(fd, mode, n); err != nil {
				return err
			}
			fmt.Println("sent")
		case in.Text() == "abort":
			if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1}); err != nil {
				return err
			}
			return unix.Close(fd)
		default:
			return fmt.Errorf("unknown command %q", in.Text())
		}
	}
	return unix.Close(fd)
}

func connectOnce(ap netip.AddrPort, syncnt string) error {
	fd, err := socket(ap, unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	if n, _ := strconv.Atoi(syncnt); n > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_SYNCNT, n); err != nil {
			return err
		}
	}
	err = unix.Connect(fd, sockaddr(ap))
	var errno unix.Errno
	errors.As(err, &errno)
	fmt.Printf("errno %d\n", int(errno))
	return unix.Close(fd)
}

func connectMany(ap netip.AddrPort, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	for range n {
		fd, err := dial(ap)
		if err != nil {
			return err
		}
		if err := unix.Close(fd); err != nil {
			return err
		}
	}
	return nil
}

func udpEcho(ap netip.AddrPort, count, reply string) error {
	fd, err := listen(ap, unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(count)
	size, _ := strconv.Atoi(reply)
	buf := make([]byte, 64<<10)
	for range n {
		_, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		if err := unix.Sendto(fd, buf[:size], 0, from); err != nil {
			return err
		}
	}
	return unix.Close(fd)
}

func udpSend(ap netip.AddrPort, count, size string) error {
	fd, err := socket(ap, unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	if err := unix.Connect(fd, sockaddr(ap)); err != nil {
		return err
	}
	n, _ := strconv.Atoi(count)
	s, _ := strconv.Atoi(size)
	buf := make([]byte, max(s, 64<<10))
	for range n {
		if _, err := unix.Write(fd, buf[:s]); err != nil {
			return err
		}
		if _, err := unix.Read(fd, buf); err != nil {
			return err
		}
	}
	return unix.Close(fd)
}

// peer is a running helper process.
type peer struct {
	t      *testing.T
	name   string
	lines  chan string // stdout, closed at EOF
	stdin  io.WriteCloser
	stderr testutil.Buffer
	done   chan error
}

// startPeer runs the test binary as helper role inside cg, in network
// namespace netns (a /run/netns path) unless empty.
func startPeer(t *testing.T, cg *testutil.Cgroup, netns, role string, args ...string) *peer {
	t.Helper()
	cmd := cg.Helper(t, role, args...)
	cmd.Env = append(cmd.Env, helperNetnsEnv+"="+netns)
	p := &peer{t: t, name: role, lines: make(chan string, 16), done: make(chan error, 1)}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", role, err)
	}
	go func() {
		// Wait closes stdout: only once all of it was read.
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// line reads the helper's next line of output.
func (p *peer) line() string {
	p.t.Helper()
	select {
	case s, ok := <-p.lines:
		if !ok {
			exit := <-p.done
			p.done <- exit
			p.t.Fatalf("%s ended without output (%v): %s", p.name, exit, p.stderr.String())
		}
		return s
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s said nothing for 15s: %s", p.name, p.stderr.String())
	}
	return ""
}

// port reads the "port N" line of a listening helper.
func (p *peer) port() uint16 {
	p.t.Helper()
	var port uint16
	if _, err := fmt.Sscanf(p.line(), "port %d", &port); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return port
}

// report reads a TCP helper's final report.
func (p *peer) report() report {
	p.t.Helper()
	var r report
	if err := json.Unmarshal([]byte(p.line()), &r); err != nil {
		p.t.Fatalf("%s report: %v", p.name, err)
	}
	return r
}

// wait waits for the helper to exit successfully.
func (p *peer) wait() {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			p.t.Fatalf("%s: %v: %s", p.name, err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s did not finish: %s", p.name, p.stderr.String())
	}
}
