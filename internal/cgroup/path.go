package cgroup

import (
	"strings"
)

// Container identity found in a cgroup path.
type pathInfo struct {
	ContainerID string
	PodUID      string
	Runtime     string
}

// scope prefixes of the systemd cgroup driver and runtimes outside Kubernetes.
var scopeRuntimes = []struct{ prefix, runtime string }{
	{"cri-containerd-", "containerd"},
	{"crio-", "cri-o"},
	{"docker-", "docker"},
	{"libpod-", "podman"},
	{"containerd-", "containerd"},
	{"nerdctl-", "containerd"},
}

// parsePath extracts the container id and pod UID from a cgroup path made by
// the cgroupfs or systemd cgroup drivers for containerd, CRI-O, Docker and
// podman. Paths that name no container yield zero values.
func parsePath(path string) pathInfo {
	var info pathInfo
	segs := strings.Split(strings.Trim(path, "/"), "/")
	inKubepods := false
	for i, seg := range segs {
		if strings.Contains(seg, "kubepods") {
			inKubepods = true
		}
		if uid, ok := podUID(seg); ok && inKubepods {
			info.PodUID = uid
			info.ContainerID, info.Runtime = "", ""
			continue
		}
		if id, rt, ok := scopeContainer(seg); ok {
			info.ContainerID, info.Runtime = id, rt
			continue
		}
		// cgroupfs driver: the container is a bare id under its pod, or under
		// /docker, /lxc-style parents outside Kubernetes.
		if isContainerID(seg) && i > 0 && (info.PodUID != "" || segs[i-1] == "docker" || segs[i-1] == "default") {
			info.ContainerID = seg
			switch {
			case segs[i-1] == "docker":
				info.Runtime = "docker"
			case info.PodUID == "":
				info.Runtime = "containerd"
			}
		}
	}
	return info
}

// podUID recognizes "pod<uid>" (cgroupfs) and "kubepods-<qos>-pod<uid_with_underscores>.slice" (systemd).
func podUID(seg string) (string, bool) {
	seg = strings.TrimSuffix(seg, ".slice")
	i := strings.LastIndex(seg, "pod")
	if i < 0 || (i > 0 && seg[i-1] != '-') {
		return "", false
	}
	uid := strings.ReplaceAll(seg[i+3:], "_", "-")
	if !isUID(uid) {
		return "", false
	}
	return uid, true
}

// scopeContainer recognizes "<runtime>-<id>.scope"; conmon scopes are not containers.
func scopeContainer(seg string) (id, runtime string, ok bool) {
	if !strings.HasSuffix(seg, ".scope") || strings.Contains(seg, "conmon") {
		return "", "", false
	}
	seg = strings.TrimSuffix(seg, ".scope")
	for _, s := range scopeRuntimes {
		if rest, found := strings.CutPrefix(seg, s.prefix); found && isContainerID(rest) {
			return rest, s.runtime, true
		}
	}
	return "", "", false
}

// isContainerID accepts the 64 hex digit ids every OCI runtime here uses.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isUID accepts an RFC 4122 textual UUID (8-4-4-4-12 hex digits).
func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
