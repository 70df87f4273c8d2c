package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSFiles names the PEM files of a listener; all empty means plain text.
type TLSFiles struct {
	Cert, Key, ClientCA string
	// ClientAuth is what the listener asks of clients when ClientCA is set:
	// tls.RequireAndVerifyClientCert (mTLS, the zero value's meaning) or
	// tls.VerifyClientCertIfGiven (certificates are one way to authenticate).
	ClientAuth tls.ClientAuthType
}

// Config builds the tls.Config, nil for plain text. The files are read again
// when they change (a Secret volume updated by the kubelet, a renewed
// certificate), checked at most once per reloadEvery: no restart needed.
func (f TLSFiles) Config() (*tls.Config, error) {
	if f.Cert == "" {
		return nil, nil
	}
	src := &tlsSource{files: f}
	if err := src.load(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: src.configForClient,
	}, nil
}

// reloadEvery bounds how often a handshake looks at the files.
const reloadEvery = time.Second

type tlsSource struct {
	files TLSFiles

	mu      sync.Mutex
	checked time.Time
	stamp   [3]fileStamp
	cfg     *tls.Config
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	st, err := os.Stat(path) // follows the ..data symlink of Secret volumes
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{st.ModTime(), st.Size()}
}

func (s *tlsSource) stamps() [3]fileStamp {
	return [3]fileStamp{stampOf(s.files.Cert), stampOf(s.files.Key), stampOf(s.files.ClientCA)}
}

// load reads the files into a fresh config.
func (s *tlsSource) load() error {
	stamp := s.stamps()
	cert, err := tls.LoadX509KeyPair(s.files.Cert, s.files.Key)
	if err != nil {
		return fmt.Errorf("load TLS key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if s.files.ClientCA != "" {
		pem, err := os.ReadFile(s.files.ClientCA)
		if err != nil {
			return fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("client CA %s holds no PEM certificate", s.files.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = s.files.ClientAuth
		if cfg.ClientAuth == tls.NoClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	s.cfg, s.stamp = cfg, stamp
	return nil
}

// configForClient returns the current config, reloading changed files; a
// reload that fails keeps the last good one (a Secret being rewritten).
func (s *tlsSource) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := time.Now(); now.Sub(s.checked) >= reloadEvery {
		s.checked = now
		if s.stamps() != s.stamp {
			_ = s.load()
		}
	}
	return s.cfg, nil
}
