package testutil

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// OTelCollector is a real OpenTelemetry Collector (hack/otelcol): an OTLP
// receiver whose spans the contrib file exporter writes to a file, which
// Spans reads back.
type OTelCollector struct {
	file string
}

// StartOTelCollector runs the collector ORB8_OTELCOL_BIN names
// (hack/lib/otelcol-binary.sh builds it) until the test ends, receiving
// OTLP over protocol ("grpc" or "http"); it returns HOST:PORT. Without the
// binary the test skips, unless ORB8_REQUIRE_OTELCOL=1.
func StartOTelCollector(t testing.TB, protocol string) (*OTelCollector, string) {
	t.Helper()
	bin := os.Getenv("ORB8_OTELCOL_BIN")
	if _, err := os.Stat(bin); bin == "" || err != nil {
		if os.Getenv("ORB8_REQUIRE_OTELCOL") == "1" {
			t.Fatalf("ORB8_OTELCOL_BIN=%q: no collector (hack/lib/otelcol-binary.sh builds it)", bin)
		}
		t.Skip("ORB8_OTELCOL_BIN unset: run hack/lib/otelcol-binary.sh and set it to the path it prints")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	c := &OTelCollector{file: filepath.Join(dir, "spans.json")}
	config := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      %s:
        endpoint: %s
exporters:
  file:
    path: %s
    flush_interval: 100ms
service:
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
`, protocol, addr, c.file)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var log Buffer
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("collector log:\n%s", log.String())
		}
	})
	Eventually(t, 30*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("the collector exited: %s", log.String())
		default:
		}
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, "the collector never listened on %s", addr)
	return c, addr
}

// Spans is every span the collector has written so far, oldest first.
func (c *OTelCollector) Spans() []ReceivedSpan {
	raw, _ := os.ReadFile(c.file)
	var out []ReceivedSpan
	lines := bufio.NewScanner(bytes.NewReader(raw))
	lines.Buffer(nil, 64<<20)
	for lines.Scan() {
		var td tracepb.TracesData
		// A line the exporter is still writing is read on the next call.
		if line, err := otlpJSONIDs(lines.Bytes()); err == nil && protojson.Unmarshal(line, &td) == nil {
			out = appendSpans(out, td.GetResourceSpans())
		}
	}
	return out
}

// otlpJSONIDs rewrites the ids of OTLP JSON, which the specification writes
// in hex, into the base64 of protobuf's JSON mapping.
func otlpJSONIDs(line []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(line, &v); err != nil {
		return nil, err
	}
	var walk func(any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
					id, err := hex.DecodeString(s)
					if err != nil {
						return err
					}
					v[k] = base64.StdEncoding.EncodeToString(id)
				} else if err := walk(x); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
