package http

import "github.com/spf13/pflag"

// Options are the http probe's settings.
type Options struct {
	// TLS counts HTTPS through libssl: uprobes on SSL_read and SSL_write,
	// two traps per call (docs/benchmarks.md, HTTPS). Off by default: on
	// libssl builds whose functions the kernel single-steps a call costs
	// tens of microseconds.
	TLS bool
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.TLS, "http-tls", o.TLS, "count HTTPS through OpenSSL-compatible libssl too (http probe; two uprobe traps per SSL_read/SSL_write call: ~1-1.5 us where libssl's functions open with endbr64 or push, ~30-55 us where the kernel single-steps them, as in Debian's OpenSSL 3.0; the agent logs which, see docs/benchmarks.md)")
}

// Validate checks the options; every value is valid.
func (o *Options) Validate() error { return nil }
