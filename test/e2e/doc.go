// Package e2e runs orb8 against real third-party servers: a Prometheus
// server (Debian's prometheus package) that scrapes the agent and answers
// PromQL. Its tests need root and /usr/bin/prometheus.
package e2e
