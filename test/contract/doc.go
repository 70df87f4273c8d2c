// Package contract checks what users build on: every metric the agent
// registers is documented in docs/metrics.md and carries no unbounded label,
// and every metric a dashboard or alert rule queries is one the agent
// exports or the contract names.
package contract
