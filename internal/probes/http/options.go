package http

import "github.com/spf13/pflag"

// Options are the http probe's settings.
type Options struct {
	// TLS counts HTTPS through libssl: uprobes on SSL_read and SSL_write,
	// two traps per call (docs/benchmarks.md, HTTPS), and through Go's
	// crypto/tls in Go executables (amd64). Off by default: on libssl builds
	// whose functions the kernel single-steps a call costs tens of
	// microseconds, as does each Go Read.
	TLS bool
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.TLS, "http-tls", o.TLS, "count HTTPS through OpenSSL-compatible libssl and Go's crypto/tls (amd64) too (http probe; two uprobe traps per SSL_read/SSL_write call: ~1-1.5 us where libssl's functions open with endbr64 or push, ~30-55 us where the kernel single-steps them, as in Debian's OpenSSL 3.0; in Go one cheap trap per Write, a cheap and a single-stepped one per Read; the agent logs which, see docs/benchmarks.md)")
}

// Validate checks the options; every value is valid.
func (o *Options) Validate() error { return nil }
