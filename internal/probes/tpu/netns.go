package tpu

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// dialInNetns connects to addr from inside the network namespace of pid,
// which must still be the namespace with inode netns (a reused pid is
// another process's). The socket is made on a thread that joined the
// namespace and keeps it after the thread leaves; joining needs
// CAP_SYS_ADMIN.
func dialInNetns(ctx context.Context, proc string, pid uint32, netns uint64, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, err, restored := dialLocked(ctx, proc, pid, netns, addr)
		if restored {
			runtime.UnlockOSThread()
		} // else the thread stays locked, in the other namespace, and ends with the goroutine
		done <- result{conn, err}
	}()
	select {
	case r := <-done:
		return r.conn, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// dialLocked does dialInNetns's work on the locked thread; restored is
// false when the thread could not return to its own namespace.
func dialLocked(ctx context.Context, proc string, pid uint32, netns uint64, addr string) (conn net.Conn, err error, restored bool) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("own network namespace: %w", err), true
	}
	defer self.Close()
	target, err := os.Open(filepath.Join(proc, strconv.FormatUint(uint64(pid), 10), "ns", "net"))
	if err != nil {
		return nil, fmt.Errorf("network namespace of pid %d: %w", pid, err), true
	}
	defer target.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(target.Fd()), &st); err != nil || st.Ino != netns {
		return nil, fmt.Errorf("pid %d left network namespace %d", pid, netns), true
	}
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("join network namespace of pid %d: %w", pid, err), true
	}
	var d net.Dialer
	conn, err = d.DialContext(ctx, "tcp", addr)
	if serr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); serr != nil {
		return conn, err, false
	}
	return conn, err, true
}
