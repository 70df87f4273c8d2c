package config

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/server"
)

// DefaultAPISocket is where the agent serves its API unless told otherwise,
// and where the CLI looks for it.
const DefaultAPISocket = "unix:///run/orb8/orb8.sock"

// API is where the agent serves its API and how callers authenticate.
type API struct {
	// APIAddrs are the API's listeners: unix sockets (root only) and TCP
	// addresses, which need TLS.
	APIAddrs []string
	// APITLSCert and APITLSKey are the TCP API's certificate; empty: the
	// metrics listener's (--tls-cert, --tls-key).
	APITLSCert string
	APITLSKey  string
	// APIClientCA: client certificates it signed authenticate TCP callers
	// (user = common name, groups = organizations, as Kubernetes reads them).
	APIClientCA string
	// MetricsAuth protects /metrics: "none", or "kubernetes" (a bearer
	// token reviewed by the API server, allowed to get the non-resource
	// URL /metrics, the kube-rbac-proxy model).
	MetricsAuth string
	// AuditTrail: the API keeps the recent execs in containers, connections,
	// policy matches and anomalies for ListAuditTrail (compliance reports).
	// Off by default: it makes every exec of the node reach the agent.
	AuditTrail bool
}

func defaultAPI() API {
	return API{APIAddrs: []string{DefaultAPISocket}, MetricsAuth: "none"}
}

func (a *API) bindFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&a.APIAddrs, "api-addr", a.APIAddrs, "where to serve the gRPC API: unix:///PATH (root only) and HOST:PORT (needs --tls-cert/--tls-key; callers authenticate with a client certificate or a Kubernetes bearer token)")
	fs.StringVar(&a.APITLSCert, "api-tls-cert", a.APITLSCert, "PEM certificate of a TCP --api-addr (default: --tls-cert); read again when it changes")
	fs.StringVar(&a.APITLSKey, "api-tls-key", a.APITLSKey, "PEM private key of --api-tls-cert")
	fs.StringVar(&a.APIClientCA, "api-client-ca", a.APIClientCA, "PEM CA bundle: client certificates it signed authenticate callers of a TCP API address")
	fs.BoolVar(&a.AuditTrail, "audit-trail", a.AuditTrail, "keep the last 8,192 execs in containers, TCP connections opened, policy matches and anomalies in memory for ListAuditTrail (orb8 report compliance); every exec of the node then reaches the agent, which costs it ~1-2 us each")
	fs.StringVar(&a.MetricsAuth, "metrics-auth", a.MetricsAuth, `protect /metrics: "none", or "kubernetes" (a bearer token allowed to get the non-resource URL /metrics)`)
}

// APITLS is the TCP API's certificate and key: its own, else the metrics
// listener's.
func (c *Config) APITLS() (cert, key string) {
	if c.APITLSCert != "" {
		return c.APITLSCert, c.APITLSKey
	}
	return c.TLSCert, c.TLSKey
}

// validate checks the API settings; tlsCert says whether the metrics
// listener has a certificate the API may share.
func (a *API) validate(tlsCert bool) error {
	if (a.APITLSCert == "") != (a.APITLSKey == "") {
		return fmt.Errorf("--api-tls-cert and --api-tls-key go together: set both or neither")
	}
	tlsCert = tlsCert || a.APITLSCert != ""
	if len(a.APIAddrs) == 0 {
		return fmt.Errorf("--api-addr is empty: give at least one, e.g. %s", DefaultAPISocket)
	}
	for _, s := range a.APIAddrs {
		addr, err := server.ParseAddress(s)
		if err != nil {
			return fmt.Errorf("invalid --api-addr %s", err)
		}
		if !addr.Local() && !tlsCert {
			return fmt.Errorf("--api-addr %s is a TCP address: it needs TLS (--api-tls-cert and --api-tls-key, or --tls-cert and --tls-key), or use %s", s, DefaultAPISocket)
		}
	}
	switch a.MetricsAuth {
	case "none", "kubernetes":
	default:
		return fmt.Errorf("invalid --metrics-auth %q: want none or kubernetes", a.MetricsAuth)
	}
	if a.APIClientCA != "" && !tlsCert {
		return fmt.Errorf("--api-client-ca needs a TLS certificate (--api-tls-cert, --api-tls-key)")
	}
	return nil
}

// TCPAPI reports whether any API address is a TCP one.
func (a *API) TCPAPI() bool {
	for _, s := range a.APIAddrs {
		if !strings.HasPrefix(s, "unix:") {
			return true
		}
	}
	return false
}
