package hub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/server"
)

// answerBufferBytes is the hub's write buffer per client connection: a
// fleet's answer, tens of MB, goes out in writes of this size (an agent's
// 8 KiB would make thousands of writes, each waking the client).
const answerBufferBytes = 256 << 10

// Options are orb8 hub's flags.
type Options struct {
	Listen, Config string
	// The TCP listener's certificate, and the CA whose client certificates
	// authenticate callers.
	TLSCert, TLSKey, ClientCA string
	// Reload is how often the configuration file is checked for changes.
	Reload time.Duration
	// SortWindow and SortBuffer: the event streams' sort buffer, how long
	// an event may wait for earlier ones and how many may wait (0: events
	// go on as they come).
	SortWindow time.Duration
	SortBuffer int
}

// Run serves the fleet until ctx ends. Its callers are root on a unix
// socket, or show a client certificate of ClientCA over TLS: the hub asks
// members with its own credentials, so whoever may call it sees what the
// hub may see.
func Run(ctx context.Context, o Options, log *slog.Logger) error {
	if o.SortWindow > 0 && o.SortBuffer < 1 {
		return fmt.Errorf("--sort-buffer %d: give at least 1 with a --sort-window", o.SortBuffer)
	}
	addr, err := server.ParseAddress(o.Listen)
	if err != nil {
		return fmt.Errorf("invalid --listen %w", err)
	}
	if !addr.Local() && o.ClientCA == "" {
		return fmt.Errorf("--listen %s is a TCP address: callers authenticate with client certificates, so give --tls-client-ca", addr)
	}
	h, err := New(ctx, o.Config, log)
	if err != nil {
		return err
	}
	defer h.Close()
	h.sortWindow, h.sortBuffer = o.SortWindow, o.SortBuffer
	srv, err := api.Listen(addr, h, server.TLSFiles{Cert: o.TLSCert, Key: o.TLSKey, ClientCA: o.ClientCA}, access.NewDecider(nil, "hub"),
		api.WriteBuffer(answerBufferBytes))
	if err != nil {
		return err
	}
	defer h.Watch(ctx, o.Reload)()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	log.Info("hub serving", "addr", srv.Addr().String(), "config", o.Config)
	select {
	case <-ctx.Done():
		srv.Stop()
		return nil
	case err := <-served:
		return err
	}
}
