package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// promtool is Debian's prometheus package's; hack/test.sh installs it.
const promtool = "/usr/bin/promtool"

// remoteWriteSets turns on remote write with every TLS setting, and the
// agents' bearer-token /metrics; basicAuth or bearerToken follow.
var remoteWriteSets = []string{"cluster.name=prod-eu", "remoteWrite.enabled=true",
	"remoteWrite.url=https://receive.example:19291/api/v1/receive", "remoteWrite.headers.THANOS-TENANT=team-a",
	"remoteWrite.tls.caSecret=rw-ca",
	"remoteWrite.tls.clientCertSecret=rw-client", "remoteWrite.tls.serverName=receive.example",
	"remoteWrite.queueConfig.max_samples_per_send=2000", "metrics.auth=kubernetes"}

// prometheusConfig is the parts of the remote-writing Prometheus's
// configuration the tests read.
type prometheusConfig struct {
	Global struct {
		ExternalLabels map[string]string `json:"external_labels"`
	} `json:"global"`
	ScrapeConfigs []struct {
		Authorization struct {
			CredentialsFile string `json:"credentials_file"`
		} `json:"authorization"`
	} `json:"scrape_configs"`
	RemoteWrite []struct {
		URL       string            `json:"url"`
		Headers   map[string]string `json:"headers"`
		BasicAuth struct {
			Username     string `json:"username"`
			PasswordFile string `json:"password_file"`
		} `json:"basic_auth"`
		Authorization struct {
			CredentialsFile string `json:"credentials_file"`
		} `json:"authorization"`
		TLSConfig struct {
			CAFile     string `json:"ca_file"`
			CertFile   string `json:"cert_file"`
			KeyFile    string `json:"key_file"`
			ServerName string `json:"server_name"`
		} `json:"tls_config"`
	} `json:"remote_write"`
}

// remoteWriteParts renders the chart and returns the Prometheus's
// configuration file, its Deployment and the agents' config file.
func remoteWriteParts(t *testing.T, sets ...string) (string, appsv1.Deployment, map[string]any) {
	t.Helper()
	objs := renderObjects(t, sets...)
	var promYAML string
	agentCfg := map[string]any{}
	for _, o := range ofKind(objs, "ConfigMap") {
		var cm corev1.ConfigMap
		decode(t, o, &cm)
		switch cm.Name {
		case "orb8-remote-write":
			promYAML = cm.Data["prometheus.yml"]
		case "orb8":
			if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &agentCfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	deps := ofKind(objs, "Deployment")
	if promYAML == "" || len(deps) != 1 {
		t.Fatalf("remote write: config %q, %d Deployments", promYAML, len(deps))
	}
	var d appsv1.Deployment
	decode(t, deps[0], &d)
	return promYAML, d, agentCfg
}

// TestChartRemoteWrite: with remoteWrite on, a Prometheus in agent mode
// scrapes the agents and remote-writes with the external label
// cluster=<cluster.name>, the name the agents label their own series
// with; every credential is a file mounted from the Secret named; the
// configuration passes promtool's agent-mode check.
func TestChartRemoteWrite(t *testing.T) {
	basic := append(slices.Clone(remoteWriteSets), "remoteWrite.basicAuth.username=orb8", "remoteWrite.basicAuth.secretName=rw-basic")
	bearer := append(slices.Clone(remoteWriteSets), "remoteWrite.bearerToken.secretName=rw-token")
	for name, sets := range map[string][]string{"basic auth": basic, "bearer token": bearer} {
		t.Run(name, func(t *testing.T) { testRemoteWrite(t, sets) })
	}
}

func testRemoteWrite(t *testing.T, sets []string) {
	promYAML, d, agentCfg := remoteWriteParts(t, sets...)
	basicAuth := slices.Contains(sets, "remoteWrite.basicAuth.secretName=rw-basic")
	var cfg prometheusConfig
	if err := yaml.Unmarshal([]byte(promYAML), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Global.ExternalLabels["cluster"] != "prod-eu" || agentCfg["cluster-name"] != "prod-eu" {
		t.Errorf("external label cluster %q, agents' cluster-name %v: want both prod-eu", cfg.Global.ExternalLabels["cluster"], agentCfg["cluster-name"])
	}
	if len(cfg.RemoteWrite) != 1 {
		t.Fatalf("remote_write %+v", cfg.RemoteWrite)
	}
	rw := cfg.RemoteWrite[0]
	if rw.URL != "https://receive.example:19291/api/v1/receive" || rw.Headers["THANOS-TENANT"] != "team-a" ||
		(rw.BasicAuth.Username == "orb8") != basicAuth || rw.TLSConfig.ServerName != "receive.example" {
		t.Errorf("remote_write %+v", rw)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].Authorization.CredentialsFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
		t.Errorf("with metrics.auth=kubernetes the scrape sends no service account token: %+v", cfg.ScrapeConfigs)
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if !slices.Contains(c.Args, "--agent") || !slices.Contains(c.Args, "--storage.agent.path=/prometheus") {
		t.Errorf("args %v: not agent mode", c.Args)
	}
	secretAt := map[string]string{}
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				secretAt[m.MountPath] = v.Secret.SecretName
			}
		}
	}
	files := map[string]string{rw.TLSConfig.CAFile: "rw-ca", rw.TLSConfig.CertFile: "rw-client", rw.TLSConfig.KeyFile: "rw-client"}
	if basicAuth {
		files[rw.BasicAuth.PasswordFile] = "rw-basic"
	} else {
		files[rw.Authorization.CredentialsFile] = "rw-token"
	}
	for file, secret := range files {
		if file == "" || secretAt[filepath.Dir(file)] != secret {
			t.Errorf("%q is not a file of Secret %s (mounts %v)", file, secret, secretAt)
		}
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("the remote-write Prometheus may run as root")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container security context %+v", c.SecurityContext)
	}
	checkPrometheusConfig(t, promYAML)
}

// checkPrometheusConfig runs promtool check config --agent on promYAML,
// its credential files made where promtool can find them. Debian builds
// Prometheus without Kubernetes service discovery, so the pod discovery
// is checked here and swapped for a static target for promtool.
func checkPrometheusConfig(t *testing.T, promYAML string) {
	t.Helper()
	if _, err := os.Stat(promtool); err != nil {
		t.Skipf("%s missing (apt-get install prometheus; hack/test.sh does)", promtool)
	}
	var sd struct {
		ScrapeConfigs []struct {
			KubernetesSDConfigs []struct {
				Role       string `json:"role"`
				Namespaces struct {
					Names []string `json:"names"`
				} `json:"namespaces"`
				Selectors []struct {
					Role  string `json:"role"`
					Label string `json:"label"`
				} `json:"selectors"`
			} `json:"kubernetes_sd_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(promYAML), &sd); err != nil {
		t.Fatal(err)
	}
	if k := sd.ScrapeConfigs[0].KubernetesSDConfigs; len(k) != 1 || k[0].Role != "pod" || !slices.Equal(k[0].Namespaces.Names, []string{"orb8"}) ||
		len(k[0].Selectors) != 1 || k[0].Selectors[0].Label != "app.kubernetes.io/name=orb8,app.kubernetes.io/instance=orb8" {
		t.Errorf("pod discovery %+v: want the release's agent pods in its namespace", k)
	}
	start := strings.Index(promYAML, "kubernetes_sd_configs:")
	end := strings.Index(promYAML, "relabel_configs:")
	indent := promYAML[strings.LastIndex(promYAML[:start], "\n")+1 : start]
	promYAML = promYAML[:start] + "static_configs:\n" + indent + "  - targets: [node-a:9808]\n" + indent + promYAML[end:]
	dir := t.TempDir()
	local := strings.NewReplacer("/etc/orb8-remote-write/", dir+"/", "/var/run/secrets/kubernetes.io/serviceaccount/", dir+"/sa/")
	promYAML = local.Replace(promYAML)
	for _, f := range []string{"basic-auth/password", "bearer/token", "ca/ca.crt", "client/tls.crt", "client/tls.key", "sa/token"} {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(promYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", "--agent", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check config --agent: %v\n%s\n%s", err, out, promYAML)
	}
}

// TestChartRemoteWriteNeedsAClusterName: remote write without
// cluster.name, or a cluster name no label value should be, fails to
// render with a message that says so; the default renders neither the
// Prometheus nor a cluster name.
func TestChartRemoteWriteNeedsAClusterName(t *testing.T) {
	for sets, want := range map[string]string{
		"remoteWrite.enabled=true,remoteWrite.url=http://r/api/v1/receive": "remoteWrite.enabled needs cluster.name",
		"cluster.name=a b":                        `cluster.name "a b": want 1 to 63 letters`,
		"cluster.name=a,remoteWrite.enabled=true": "remoteWrite.url: where to send the series",
		"cluster.name=a,remoteWrite.enabled=true,remoteWrite.url=http://r,remoteWrite.basicAuth.secretName=b,remoteWrite.bearerToken.secretName=t": "basicAuth and bearerToken exclude each other",
	} {
		_, err := render(chartDir, "orb8", "orb8", nil, strings.Split(sets, ","))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: error %v, want %q", sets, err, want)
		}
	}
	objs := renderObjects(t)
	if n := len(ofKind(objs, "Deployment")); n != 0 {
		t.Errorf("default values render %d Deployments", n)
	}
	for _, o := range ofKind(objs, "ConfigMap") {
		if strings.Contains(string(o.raw), "cluster-name") {
			t.Errorf("default values set a cluster name:\n%s", o.raw)
		}
	}
}
