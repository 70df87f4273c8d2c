package eval

import (
	crand "crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The workloads and attacks run as helpers of the test binary, each in
// its cgroup. Normal ones act per minute of the model (the first argument,
// a duration), from their own clock: a helper that falls behind skips the
// minutes it missed rather than catching up.

// everyMinute runs act(minute) once in each minute of length size, at a
// random point within it, until the process is killed.
func everyMinute(size time.Duration, seed uint64, act func(r *rand.Rand, minute int64)) error {
	r := rand.New(rand.NewPCG(seed, uint64(os.Getpid())))
	for {
		now := time.Now()
		m := now.UnixNano() / int64(size)
		at := time.Unix(0, m*int64(size)+r.Int64N(int64(size)/2))
		if at.Before(now) {
			at = now
		}
		time.Sleep(time.Until(at))
		act(r, m)
		time.Sleep(time.Until(time.Unix(0, (m+1)*int64(size))))
	}
}

func minuteArg(args []string) (time.Duration, error) {
	if len(args) == 0 {
		return 0, fmt.Errorf("no minute")
	}
	return time.ParseDuration(args[0])
}

// webServer serves pages of 2 to 16 KiB on args[1] and, on /run, runs a
// command with bash: the remote code execution hole the reverse shell
// attack goes through.
func webServer(args []string) error {
	page := strings.Repeat("x", 16<<10)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("kib"))
		io.WriteString(w, page[:min(max(n, 2), 16)<<10])
	})
	mux.HandleFunc("/run", func(w http.ResponseWriter, r *http.Request) {
		out, err := exec.Command("/bin/bash", "-c", r.URL.Query().Get("c")).CombinedOutput()
		fmt.Fprintf(w, "%s%v", out, err)
	})
	return http.ListenAndServe(args[1], mux)
}

// webClients, each minute, fetch 4 to 10 pages from the server (args[1],
// a connection each) and look up 5 to 8 names at the DNS server (args[2]),
// one of four of them a name that does not exist (as search domains do).
func webClients(args []string) error {
	size, err := minuteArg(args)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	names := []string{"api.shop.example", "cdn.shop.example", "auth.shop.example", "api.shop.example.svc.local"}
	return everyMinute(size, 1, func(r *rand.Rand, _ int64) {
		for range 4 + r.IntN(7) {
			if resp, err := client.Get(fmt.Sprintf("http://%s/?kib=%d", args[1], 2+r.IntN(15))); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		lookups := make([]string, 5+r.IntN(4))
		for i := range lookups {
			lookups[i] = names[r.IntN(len(names))]
		}
		lookup(args[2], lookups)
	})
}

// lookup sends a query for each name to server and waits for the answers
// (or 500ms).
func lookup(server string, names []string) {
	c, err := net.Dial("udp", server)
	if err != nil {
		return
	}
	defer c.Close()
	for i, name := range names {
		c.Write(query(uint16(i), name))
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 512)
	for range names {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// batchJob, each minute, runs 1 to 3 short programs; every 60 minutes, for
// three minutes, 10 to 16 more a minute (sort, gzip).
func batchJob(args []string) error {
	size, err := minuteArg(args)
	if err != nil {
		return err
	}
	return everyMinute(size, 2, func(r *rand.Rand, m int64) {
		n := 1 + r.IntN(3)
		for range n {
			exec.Command("/usr/bin/true").Run()
		}
		if m%60 < 3 {
			for range 5 + r.IntN(4) {
				exec.Command("/usr/bin/sort", "/etc/hostname").Run()
				exec.Command("/usr/bin/gzip", "-c", "/etc/hostname").Run()
			}
		}
	})
}

// cronJob, every 15 minutes, runs a shell that lists a directory, and
// sends 1 to 3 MiB to the backup server (args[1]).
func cronJob(args []string) error {
	size, err := minuteArg(args)
	if err != nil {
		return err
	}
	return everyMinute(size, 3, func(r *rand.Rand, m int64) {
		if m%15 != 0 {
			return
		}
		exec.Command("/bin/sh", "-c", "date >/dev/null; ls /tmp >/dev/null").Run()
		send(args[1], (1+r.IntN(3))<<20)
	})
}

// send writes n bytes to addr on one connection.
func send(addr string, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.CopyN(c, zeros{}, int64(n))
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// miner connects to a pool (args[0]) on a port the workload never used,
// logs in and burns CPU for 300ms.
func miner(args []string) error {
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(c, `{"id":1,"method":"login","params":{"login":"wallet"}}`+"\n")
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	return nil
}

// tunnel sends args[1] queries of 40 random bytes in base32 under the
// domain args[2] to the DNS server args[0], spread over args[3].
func tunnel(args []string) error {
	n, _ := strconv.Atoi(args[1])
	over, err := time.ParseDuration(args[3])
	if err != nil {
		return err
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range n {
		b := make([]byte, 35)
		crand.Read(b)
		lookup(args[0], []string{strings.ToLower(enc.EncodeToString(b)) + "." + args[2]})
		time.Sleep(over / time.Duration(n))
	}
	return nil
}

// scan tries to connect to args[1] ports of 127.0.0.1 from args[0] on.
func scan(args []string) error {
	from, _ := strconv.Atoi(args[0])
	n, _ := strconv.Atoi(args[1])
	for p := from; p < from+n; p++ {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), 200*time.Millisecond); err == nil {
			c.Close()
		}
	}
	return nil
}

// burst sends args[1] MiB to args[0].
func burst(args []string) error {
	n, _ := strconv.Atoi(args[1])
	return send(args[0], n<<20)
}

var helpers = map[string]func([]string) error{
	"web": webServer, "clients": webClients, "batch": batchJob, "cron": cronJob,
	"miner": miner, "tunnel": tunnel, "scan": scan, "burst": burst,
}
