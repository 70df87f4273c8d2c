// Package hub is orb8's fleet plane: it serves the agent API for every agent
// of every fleet member (a Kubernetes cluster reached through its API
// server, or hosts given by address), each record labelled with its member.
package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the hub's configuration file.
type Config struct {
	Clusters []Member `yaml:"clusters"`
}

// Member is one fleet member: a cluster whose agents are reached through its
// API server (Kubeconfig), or agents given by address. With both, the
// agents are reached by address and the API server only names addresses
// (the hub's index of pod and Service addresses).
type Member struct {
	Name string `yaml:"name"`
	// Kubeconfig and Context reach the cluster's API server; the agents are
	// the pods of AgentDaemonSet in AgentNamespace (default orb8/orb8).
	Kubeconfig     string `yaml:"kubeconfig"`
	Context        string `yaml:"context"`
	AgentNamespace string `yaml:"agentNamespace"`
	AgentDaemonSet string `yaml:"agentDaemonSet"`
	// Agents by address (unix:///PATH or HOST:PORT over TLS).
	Agents []string `yaml:"agents"`
	TLS    struct {
		CA         string `yaml:"ca"`
		Cert       string `yaml:"cert"`
		Key        string `yaml:"key"`
		ServerName string `yaml:"serverName"`
	} `yaml:"tls"`
	// Timeout bounds each call to the member's agents (default 5s).
	Timeout time.Duration `yaml:"timeout"`
}

// memberName is what a member name may be: it becomes a label value and a
// column, so nothing a terminal or a query language would read as markup.
var memberName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// maxConfigBytes bounds the file read: a fleet of thousands of members fits.
const maxConfigBytes = 1 << 20

// ParseConfig reads and checks a configuration: unknown keys, unnamed,
// duplicate or misnamed members, and members that say neither kubeconfig
// nor agents are errors.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if len(data) > maxConfigBytes {
		return c, fmt.Errorf("hub config: %d bytes, more than %d", len(data), maxConfigBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("hub config: %w", err)
	}
	seen := map[string]bool{}
	for i := range c.Clusters {
		m := &c.Clusters[i]
		switch {
		case !memberName.MatchString(m.Name):
			return c, fmt.Errorf("hub config: member %d: name %q: want lower-case letters, digits, '.', '_' or '-', at most 63", i+1, m.Name)
		case seen[m.Name]:
			return c, fmt.Errorf("hub config: member %q is listed twice", m.Name)
		case m.Kubeconfig == "" && len(m.Agents) == 0:
			return c, fmt.Errorf("hub config: member %q: give kubeconfig, agents or both", m.Name)
		case m.Timeout < 0:
			return c, fmt.Errorf("hub config: member %q: negative timeout", m.Name)
		}
		seen[m.Name] = true
		if m.AgentNamespace == "" {
			m.AgentNamespace = "orb8"
		}
		if m.AgentDaemonSet == "" {
			m.AgentDaemonSet = "orb8"
		}
		if m.Timeout == 0 {
			m.Timeout = 5 * time.Second
		}
	}
	return c, nil
}

// LoadConfig reads the configuration file at path.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("hub config: %w", err)
	}
	return ParseConfig(data)
}
