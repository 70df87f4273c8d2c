// Package kubetest runs a real etcd and kube-apiserver for tests, from the
// pinned binaries hack/cluster.sh builds (hack/lib/k8s-binaries.sh) and
// Debian's etcd. Tests skip when the binaries are absent, unless
// ORB8_REQUIRE_K8S=1 (the project's test command sets it), where they fail.
package kubetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Version is the Kubernetes version hack/cluster.sh pins.
const Version = "v1.37.2"

// BinDir is where the kube-apiserver binary is looked for: $ORB8_K8S_BIN,
// else the cache hack/lib/k8s-binaries.sh fills.
func BinDir() string {
	if d := os.Getenv("ORB8_K8S_BIN"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "orb8", "k8s", Version, "bin")
}

// Missing says why a server cannot start here, or "" when it can.
func Missing() string {
	if _, err := os.Stat(filepath.Join(BinDir(), "kube-apiserver")); err != nil {
		return "no kube-apiserver in " + BinDir() + " (build it: hack/lib/k8s-binaries.sh)"
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		return "no etcd (apt-get install etcd-server)"
	}
	return ""
}

// Require skips t when no server can run, or fails it under ORB8_REQUIRE_K8S=1.
func Require(t testing.TB) {
	t.Helper()
	if why := Missing(); why != "" {
		if os.Getenv("ORB8_REQUIRE_K8S") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
}

// Server is an etcd and a kube-apiserver on loopback ports.
type Server struct {
	dir       string
	etcd      *exec.Cmd
	apiserver *exec.Cmd
	etcdURL   string
	port      int
	token     string
}

// Start starts etcd and the API server in a fresh directory and waits until
// the API server is ready.
func Start() (*Server, error) {
	if why := Missing(); why != "" {
		return nil, fmt.Errorf("%s", why)
	}
	dir, err := os.MkdirTemp("", "orb8-kubetest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s.etcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	s.port = ports[2]
	if err := s.writeCredentials(); err != nil {
		s.Stop()
		return nil, err
	}
	s.etcd = s.command("etcd", "etcd", "--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+s.etcdURL, "--advertise-client-urls="+s.etcdURL,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=test="+peer)
	if err := s.etcd.Start(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := s.StartAPIServer(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) command(logName, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	if f, err := os.OpenFile(filepath.Join(s.dir, logName+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		cmd.Stdout, cmd.Stderr = f, f
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// writeCredentials makes the service account key and an admin token.
func (s *Server) writeCredentials() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	s.token = hex.EncodeToString(b)
	return os.WriteFile(filepath.Join(s.dir, "tokens.csv"), []byte(s.token+`,admin,admin,"system:masters"`+"\n"), 0o600)
}

// StartAPIServer (re)starts the API server on its port, against the same etcd.
func (s *Server) StartAPIServer() error {
	sa := filepath.Join(s.dir, "sa.key")
	s.apiserver = s.command("kube-apiserver", filepath.Join(BinDir(), "kube-apiserver"),
		"--etcd-servers="+s.etcdURL, "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(s.port),
		"--cert-dir="+filepath.Join(s.dir, "pki"), "--token-auth-file="+filepath.Join(s.dir, "tokens.csv"),
		"--authorization-mode=RBAC", "--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+sa, "--service-account-signing-key-file="+sa,
		"--endpoint-reconciler-type=none", "--profiling=false",
		// No controller-manager makes default service accounts here.
		"--disable-admission-plugins=ServiceAccount")
	if err := s.apiserver.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	return s.waitReady(3 * time.Minute)
}

// StopAPIServer stops the API server; etcd keeps the cluster's state.
func (s *Server) StopAPIServer() {
	if s.apiserver != nil && s.apiserver.Process != nil {
		_ = s.apiserver.Process.Signal(syscall.SIGTERM)
		_ = s.apiserver.Wait()
	}
	s.apiserver = nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		// The serving certificate appears once the API server has made it.
		if rt, err := rest.TransportFor(s.Config()); err == nil {
			c := &http.Client{Transport: rt, Timeout: 5 * time.Second}
			if resp, err := c.Get(s.Config().Host + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s; log: %s", timeout, filepath.Join(s.dir, "kube-apiserver.log"))
}

// Config is an admin client configuration for the server.
func (s *Server) Config() *rest.Config {
	return &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(s.port),
		BearerToken:     s.token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(s.dir, "pki", "apiserver.crt")},
		QPS:             500,
		Burst:           1000,
	}
}

// Kubeconfig writes a kubeconfig file for the server and returns its path.
func (s *Server) Kubeconfig() (string, error) {
	p := filepath.Join(s.dir, "kubeconfig")
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:%d", certificate-authority: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, s.port, filepath.Join(s.dir, "pki", "apiserver.crt"), s.token)
	return p, os.WriteFile(p, []byte(body), 0o600)
}

// Stop stops both servers and removes their data.
func (s *Server) Stop() {
	s.StopAPIServer()
	if s.etcd != nil && s.etcd.Process != nil {
		_ = s.etcd.Process.Kill()
		_ = s.etcd.Wait()
	}
	os.RemoveAll(s.dir)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
