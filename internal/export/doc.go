// Package export shapes what the agent exports and sends it beyond /metrics:
// a cap on series per metric (SeriesCap), and OTLP push of the very same
// series through the OpenTelemetry Prometheus bridge (StartOTLP), so the two
// outputs never disagree and no collector is written twice; and log records
// over OTLP to the same endpoint (StartLogs), batched in a bounded queue.
package export
