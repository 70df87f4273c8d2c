package tpu

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// endpoint is one TPU workload's metrics service: where it listens and the
// process it is attributed to.
type endpoint struct {
	netns uint64         // inode of the network namespace it listens in
	pid   uint32         // the lowest pid of the namespace that mapped libtpu
	addr  netip.AddrPort // loopback address to dial inside netns
}

// discover finds the TPU workloads' metrics services: network namespaces
// with a TCP listener on port, each attributed to the first of its
// processes that mapped libtpu. A namespace whose listener no libtpu
// process shares is not a TPU workload and is not dialled.
func discover(proc string, port uint16) ([]endpoint, error) {
	pids, err := listPIDs(proc)
	if err != nil {
		return nil, err
	}
	byNetns := map[uint64][]uint32{}
	for _, pid := range pids {
		if ns, ok := netnsOf(proc, pid); ok {
			byNetns[ns] = append(byNetns[ns], pid)
		}
	}
	var out []endpoint
	for ns, members := range byNetns {
		addr, ok := listener(proc, members[0], port)
		if !ok {
			continue
		}
		for _, pid := range members { // ascending, as listPIDs returns them
			if mapsLibtpu(proc, pid) {
				out = append(out, endpoint{netns: ns, pid: pid, addr: addr})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int { return int(a.pid) - int(b.pid) })
	return out, nil
}

func listPIDs(proc string) ([]uint32, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []uint32
	for _, e := range entries {
		if pid, err := strconv.ParseUint(e.Name(), 10, 32); err == nil {
			pids = append(pids, uint32(pid))
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// netnsOf reads the inode of a process's network namespace from its
// /proc/<pid>/ns/net link, "net:[4026531840]".
func netnsOf(proc string, pid uint32) (uint64, bool) {
	link, err := os.Readlink(filepath.Join(proc, strconv.FormatUint(uint64(pid), 10), "ns", "net"))
	if err != nil {
		return 0, false
	}
	inner, ok := strings.CutPrefix(link, "net:[")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(inner, "]"), 10, 64)
	return ino, err == nil
}

// listener returns the loopback address to dial for a TCP listener on
// port in the network namespace of pid, from its /proc/<pid>/net/tcp and
// tcp6; false when there is none or it listens on another address only.
func listener(proc string, pid uint32, port uint16) (netip.AddrPort, bool) {
	dir := filepath.Join(proc, strconv.FormatUint(uint64(pid), 10), "net")
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(dir, table))
		if err != nil {
			continue
		}
		addr, ok := findListener(f, port)
		f.Close()
		if ok {
			return addr, true
		}
	}
	return netip.AddrPort{}, false
}

// tcpListen is the LISTEN state in /proc/net/tcp.
const tcpListen = "0A"

// maxTableLine bounds one line of /proc/net/tcp{,6}.
const maxTableLine = 512

// findListener reads a /proc/net/tcp or tcp6 table for a socket listening
// on port on a loopback or unspecified address. The kernel lists listening
// sockets first: the read stops at the first socket in another state, so a
// namespace with many connections costs no more than one with few.
func findListener(r io.Reader, port uint16) (netip.AddrPort, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, maxTableLine), maxTableLine)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		if f[3] != tcpListen {
			return netip.AddrPort{}, false
		}
		local, ok := parseTableAddr(f[1])
		if !ok || local.Port() != port {
			continue
		}
		switch a := local.Addr().Unmap(); {
		case a.IsLoopback():
			return netip.AddrPortFrom(a, port), true
		case a.IsUnspecified() && a.Is4():
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port), true
		case a.IsUnspecified():
			return netip.AddrPortFrom(netip.IPv6Loopback(), port), true
		}
	}
	return netip.AddrPort{}, false
}

// parseTableAddr reads a local_address of /proc/net/tcp{,6}: the address
// as 32-bit words in host (little-endian) order, hex, then ":PORT" in hex.
func parseTableAddr(s string) (netip.AddrPort, bool) {
	host, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(raw); i += 4 { // each word back to network order
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), true
}

// maxMapsLine bounds one line of /proc/<pid>/maps; longer ones (very long
// paths) are not libtpu's.
const maxMapsLine = 4096

// mapsLibtpu reports whether the process mapped libtpu (libtpu.so, as the
// libtpu wheel installs it, or a versioned libtpu.so.N).
func mapsLibtpu(proc string, pid uint32) bool {
	f, err := os.Open(filepath.Join(proc, strconv.FormatUint(uint64(pid), 10), "maps"))
	if err != nil {
		return false
	}
	defer f.Close()
	return readsLibtpu(f)
}

// readsLibtpu scans maps lines for a libtpu file; a line longer than
// maxMapsLine ends the scan (a process can only hide itself that way).
func readsLibtpu(r io.Reader) bool {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, maxMapsLine), maxMapsLine)
	for sc.Scan() {
		s := sc.Text()
		if i := strings.LastIndexByte(s, '/'); i >= 0 && isLibtpu(s[i+1:]) {
			return true
		}
	}
	return false
}

func isLibtpu(base string) bool {
	return base == "libtpu.so" || strings.HasPrefix(base, "libtpu.so.")
}
