package agent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/orb8/orb8/internal/audit"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/export"
)

// auditedKinds are the kinds of event the audit sinks record.
var auditedKinds = []string{events.KindPolicy, events.KindAnomaly}

// startAudit writes --audit-log and sends the same records as OTLP logs to
// --otlp-endpoint, when policies or anomaly detection make records. What is
// audited goes on even when its records cannot go to OTLP.
func (a *Agent) startAudit(ctx context.Context) error {
	if !a.cfg.Audited() {
		return nil
	}
	if a.cfg.AuditLog != "" {
		l, err := audit.Open(a.cfg.AuditLog, a.cfg.AuditLogMaxBytes)
		if err != nil {
			return err
		}
		a.writeAudit(ctx, l)
	}
	if a.cfg.OTLPEndpoint != "" {
		if logs, err := export.StartLogs(ctx, a.otlp(), "github.com/orb8/orb8/internal/audit", a.log); err != nil {
			a.log.Error("audit records not sent over OTLP", "err", err)
		} else {
			a.exportAudit(ctx, logs)
		}
	}
	return nil
}

// auditTrail is one audit sink's account of the records it missed.
type auditTrail struct {
	sink string               // "file" (--audit-log) or "otlp"
	sub  *events.Subscription // its records, from the bus
	lost func() uint64        // records the sink took but could not keep
}

// missed is the records the sink lacks: dropped by a full buffer, or lost
// by the sink.
func (t *auditTrail) missed() uint64 { return t.sub.Dropped() + t.lost() }

// writeAudit writes every audited event to l until ctx ends; the first
// failed write is logged, all are counted (orb8_audit_records_missed_total).
func (a *Agent) writeAudit(ctx context.Context, l *audit.Log) {
	var writeErrors atomic.Uint64
	a.audit(ctx, "file", func(r audit.Record) {
		if err := l.Write(r); err != nil && writeErrors.Add(1) == 1 {
			a.log.Warn("audit log write failed; later failures are counted in orb8_audit_records_missed_total", "err", err)
		}
	}, writeErrors.Load, func() { l.Close() })
}

// exportAudit sends every audited event to logs as an OTLP log record
// until ctx ends, then sends what waits. Emit never blocks: what the queue
// or the receiver loses is counted (orb8_audit_records_missed_total).
func (a *Agent) exportAudit(ctx context.Context, logs *export.Logs) {
	a.audit(ctx, "otlp", func(r audit.Record) { logs.Emit(ctx, r.LogRecord()) }, logs.Missed, func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := logs.Shutdown(flushCtx); err != nil {
			a.log.Warn("otlp audit records not all sent at shutdown", "err", err)
		}
	})
}

// audit hands the record of every audited event to write, in order, until
// ctx ends, then calls done; the sink's losses are exported.
func (a *Agent) audit(ctx context.Context, sink string, write func(audit.Record), lost func() uint64, done func()) {
	trail := &auditTrail{sink: sink, lost: lost}
	trail.sub = a.follow(ctx, auditedKinds, 4096, func(e *events.Event) {
		write(audit.FromEvent(e, a.cfg.NodeName))
	}, done)
	a.auditMu.Lock()
	a.audits = append(a.audits, trail)
	a.auditMu.Unlock()
}
