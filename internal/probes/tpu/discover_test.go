package tpu

import (
	"net/netip"
	"strings"
	"testing"
)

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

func tcpLine(local, state string) string {
	return "   0: " + local + " 00000000:0000 " + state + " 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0\n"
}

func TestFindListener(t *testing.T) {
	v6loop := "00000000000000000000000001000000" // ::1, words in host order
	for _, tc := range []struct {
		name, table string
		want        string // "" for none
	}{
		{"loopback v4", tcpLine("0100007F:20EF", "0A"), "127.0.0.1:8431"},
		{"any v4", tcpLine("00000000:20EF", "0A"), "127.0.0.1:8431"},
		{"loopback v6", tcpLine(v6loop+":20EF", "0A"), "[::1]:8431"},
		{"any v6", tcpLine("00000000000000000000000000000000:20EF", "0A"), "[::1]:8431"},
		{"v4-mapped loopback", tcpLine("0000000000000000FFFF00000100007F:20EF", "0A"), "127.0.0.1:8431"},
		{"other port", tcpLine("0100007F:20F0", "0A"), ""},
		{"pod address only", tcpLine("0A00000A:20EF", "0A"), ""},
		{"established, not listening", tcpLine("0100007F:20EF", "01"), ""},
		{"listeners end at the first other state", tcpLine("0100007F:0050", "0A") + tcpLine("0100007F:9999", "01") + tcpLine("0100007F:20EF", "0A"), ""},
		{"after other listeners", tcpLine("0100007F:0050", "0A") + tcpLine("0100007F:20EF", "0A"), "127.0.0.1:8431"},
		{"garbage", "x\n" + tcpLine("zz:20EF", "0A") + "1: 2 3\n" + tcpLine("0100007F:20EF", "0A"), "127.0.0.1:8431"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := findListener(strings.NewReader(tcpHeader+tc.table), 8431)
			if tc.want == "" {
				if ok {
					t.Fatalf("found %v, want none", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddrPort(tc.want) {
				t.Fatalf("got %v %v, want %s", got, ok, tc.want)
			}
		})
	}
}

func FuzzFindListener(f *testing.F) {
	f.Add(tcpHeader + tcpLine("0100007F:20EF", "0A"))
	f.Add(tcpHeader + tcpLine("00000000000000000000000001000000:20EF", "0A"))
	f.Fuzz(func(t *testing.T, table string) {
		if addr, ok := findListener(strings.NewReader(table), 8431); ok && (!addr.Addr().IsLoopback() || addr.Port() != 8431) {
			t.Fatalf("dials %v: not loopback port 8431", addr)
		}
	})
}

func TestReadsLibtpu(t *testing.T) {
	line := func(path string) string { return "7f1c2a000000-7f1c2a021000 r-xp 00001000 fd:01 1837 " + path + "\n" }
	for _, tc := range []struct {
		maps string
		want bool
	}{
		{line("/usr/lib/libc.so.6") + line("/opt/venv/lib/python3.12/site-packages/libtpu/libtpu.so"), true},
		{line("/usr/lib/libtpu.so.1"), true},
		{line("/usr/lib/libtpu_helper.so") + line("/home/libtpu.so.txt/x.so"), false},
		{"7f1c2a000000-7f1c2a021000 rw-p 00000000 00:00 0 \n", false},
		{line("/"+strings.Repeat("a", 2*maxMapsLine)) + line("/usr/lib/libtpu.so"), false}, // an overlong line ends the scan
	} {
		if got := readsLibtpu(strings.NewReader(tc.maps)); got != tc.want {
			t.Errorf("readsLibtpu(%.80q) = %v, want %v", tc.maps, got, tc.want)
		}
	}
}
