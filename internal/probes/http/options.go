package http

import "github.com/spf13/pflag"

// Options are the http probe's settings.
type Options struct {
	// TLS counts HTTPS through libssl: uprobes on SSL_read and SSL_write,
	// two traps per call (docs/benchmarks.md, HTTPS).
	TLS bool
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{TLS: true} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.TLS, "http-tls", o.TLS, "count HTTPS through OpenSSL-compatible libssl too (http probe; two uprobe traps per SSL_read/SSL_write call, ~30-55 us a call where libssl's functions are single-stepped, see docs/benchmarks.md)")
}

// Validate checks the options; every value is valid.
func (o *Options) Validate() error { return nil }
