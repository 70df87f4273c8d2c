package cgroup

import (
	"strconv"
	"strings"
)

// pathInfo is the identity a cgroup path carries by itself, before any
// Kubernetes names are known.
type pathInfo struct {
	ContainerID string
	PodUID      string
	Runtime     string
	// Unit is the systemd unit (unescaped) or the Talos service the cgroup
	// belongs to, for cgroups that are not containers.
	Unit string
}

// segment is what one path segment says by itself.
type segment struct {
	kind        segmentKind
	podUID      string
	containerID string
	runtime     string
	unit        string
}

type segmentKind uint8

const (
	segNone      segmentKind = iota
	segKubepods              // a kubepods parent (kubepods, kubepods.slice, kubepods-burstable.slice, ...)
	segPod                   // pod<uid>, kubepods-<qos>-pod<uid>.slice
	segPodAndCtr             // <pod slice>:<runtime>:<id>, containerd managing the cgroup itself
	segContainer             // a container of a runtime
	segUnit                  // a systemd unit or Talos service
)

// layout recognises the segments one runtime or driver makes. The table is
// the one place that knows the shapes; parsePath only applies the nesting
// rule to what it says.
type layout struct {
	name  string // who makes these segments, for the tests and docs
	match func(seg string, at place) (segment, bool)
}

// place is where a segment sits in its path.
type place struct {
	parent     string // the segment above, "" at the top
	depth      int    // 0 at the top
	inKubepods bool   // below a kubepods parent
}

var layouts = []layout{
	// Kubernetes: /kubepods[/<qos>]/pod<uid>/<id> (cgroupfs driver),
	// /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/<scope>
	// (systemd driver). The uid is an RFC 4122 UUID, or a 32-hex-digit config
	// hash for static pods.
	{"pod (cgroupfs: pod<uid>; systemd: kubepods-<qos>-pod<uid_with_underscores>.slice)", matchPod},
	// containerd with systemd_cgroup but managing the cgroup itself under its
	// service: <pod slice>:cri-containerd:<id>.
	{"containerd, pod slice:runtime:id", matchPodAndContainer},
	{"kubepods parent (cgroupfs and systemd drivers, nested kubelets)", matchKubepods},
	// <prefix>-<id>.scope (systemd driver) and <prefix>-<id> (cgroupfs CRI-O,
	// containerd's systemd driver without .scope).
	{"runtime-prefixed container (containerd, CRI-O, Docker, cri-dockerd, podman, nerdctl)", matchPrefixedContainer},
	// A bare 64-hex-digit id: cgroupfs driver (under a pod, /docker, /default).
	{"bare container id (cgroupfs driver)", matchBareContainer},
	{"LXC and LXD (/lxc/<name>, /lxc.payload.<name>)", matchLXC},
	{"Talos (/podruntime/<svc>, /system/<svc>, /init)", matchTalos},
	{"systemd unit (.service, .scope, .slice; \\x escapes undone)", matchUnit},
}

// runtimePrefixes name the runtime of "<prefix>-<id>" segments. conmon (CRI-O's
// monitor) has its own scope that is not the container.
var runtimePrefixes = []struct{ prefix, runtime string }{
	{"cri-containerd", "containerd"},
	{"crio", "cri-o"},
	{"docker", "docker"},
	{"cri-dockerd", "docker"},
	{"libpod", "podman"},
	{"containerd", "containerd"},
	{"nerdctl", "containerd"},
}

// IsPodPath reports whether a cgroup path belongs to a Kubernetes pod.
func IsPodPath(path string) bool { return parsePath(path).PodUID != "" }

// parsePath reads the identity of a cgroup from its path (relative to the
// cgroup2 mount, or a v1 hierarchy's). The outermost identity decides, so a
// workload that may create child cgroups cannot pose as another:
//   - the first pod segment below a kubepods parent decides the pod, and the
//     container is the segment directly under it; anything nested deeper
//     stays that container's (or the pod's);
//   - a pod inside a container (kind, k3d, k3s in a container: nested
//     nodes) is that pod's, not the node container's;
//   - outside pods, the first container decides; outside containers, the
//     first systemd service or scope, else the innermost slice.
func parsePath(path string) pathInfo {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var info pathInfo
	var inKubepods bool
	var haveContainer, haveUnit bool
	for i, seg := range segs {
		at := place{depth: i, inKubepods: inKubepods}
		if i > 0 {
			at.parent = segs[i-1]
		}
		s := classify(seg, at)
		switch s.kind {
		case segKubepods:
			inKubepods = true
		case segPodAndCtr:
			return pathInfo{PodUID: s.podUID, ContainerID: s.containerID, Runtime: s.runtime}
		case segPod:
			info = pathInfo{PodUID: s.podUID}
			if i+1 < len(segs) {
				if c := classify(segs[i+1], place{parent: seg, depth: i + 1, inKubepods: true}); c.kind == segContainer {
					info.ContainerID, info.Runtime = c.containerID, c.runtime
				}
			}
			return info
		case segContainer:
			if !haveContainer {
				info, haveContainer = pathInfo{ContainerID: s.containerID, Runtime: s.runtime, Unit: s.unit}, true
			}
		case segUnit:
			if !haveContainer && (!haveUnit || !strings.HasSuffix(info.Unit, ".service") && !strings.HasSuffix(info.Unit, ".scope")) {
				info.Unit, info.Runtime, haveUnit = s.unit, s.runtime, true
			}
		}
	}
	return info
}

// classify applies the layout table to one segment: the first layout that
// matches decides. Pod segments count only below a kubepods parent.
func classify(seg string, at place) segment {
	for _, l := range layouts {
		if s, ok := l.match(seg, at); ok {
			return s
		}
	}
	return segment{}
}

// matchKubepods takes the parents of pods: kubepods, kubepods.slice,
// kubepods-burstable.slice, kubelet-kubepods.slice (kind), ... Pod
// segments, which contain the word too, are matched before.
func matchKubepods(seg string, _ place) (segment, bool) {
	if strings.Contains(seg, "kubepods") {
		return segment{kind: segKubepods}, true
	}
	return segment{}, false
}

func matchPod(seg string, at place) (segment, bool) {
	if uid, ok := podUID(seg); ok && at.inKubepods {
		return segment{kind: segPod, podUID: uid}, true
	}
	return segment{}, false
}

func matchPodAndContainer(seg string, _ place) (segment, bool) {
	podPart, rest, ok := strings.Cut(seg, ":")
	if !ok {
		return segment{}, false
	}
	prefix, id, ok := strings.Cut(rest, ":")
	uid, isPod := podUID(podPart)
	if !ok || !isPod || !strings.Contains(podPart, "kubepods") || !isContainerID(id) {
		return segment{}, false
	}
	for _, p := range runtimePrefixes {
		if p.prefix == prefix {
			return segment{kind: segPodAndCtr, podUID: uid, containerID: id, runtime: p.runtime}, true
		}
	}
	return segment{}, false
}

func matchPrefixedContainer(seg string, _ place) (segment, bool) {
	name := strings.TrimSuffix(seg, ".scope")
	if strings.Contains(name, "conmon") {
		return segment{}, false
	}
	for _, p := range runtimePrefixes {
		if id, ok := strings.CutPrefix(name, p.prefix+"-"); ok && isContainerID(id) {
			return segment{kind: segContainer, containerID: id, runtime: p.runtime}, true
		}
	}
	return segment{}, false
}

// matchBareContainer takes a bare id under a pod (the caller asks only for
// the segment under a pod), /docker (Docker's cgroupfs driver) or /default
// (containerd's default namespace); its runtime is known only for Docker.
func matchBareContainer(seg string, at place) (segment, bool) {
	if !isContainerID(seg) {
		return segment{}, false
	}
	switch {
	case at.parent == "docker":
		return segment{kind: segContainer, containerID: seg, runtime: "docker"}, true
	case at.parent == "default":
		return segment{kind: segContainer, containerID: seg, runtime: "containerd"}, true
	case at.inKubepods:
		if _, ok := podUID(at.parent); ok {
			return segment{kind: segContainer, containerID: seg}, true
		}
	}
	return segment{}, false
}

func matchLXC(seg string, at place) (segment, bool) {
	if name, ok := strings.CutPrefix(seg, "lxc.payload."); ok && name != "" {
		return segment{kind: segContainer, containerID: name, runtime: "lxc"}, true
	}
	if at.parent == "lxc" && at.depth == 1 && seg != "" {
		return segment{kind: segContainer, containerID: seg, runtime: "lxc"}, true
	}
	return segment{}, false
}

// matchTalos recognises Talos Linux's own top-level cgroups.
func matchTalos(seg string, at place) (segment, bool) {
	switch {
	case at.depth == 0 && seg == "init":
		return segment{kind: segUnit, unit: "init", runtime: "talos"}, true
	case at.depth == 1 && (at.parent == "podruntime" || at.parent == "system"):
		return segment{kind: segUnit, unit: seg, runtime: "talos"}, true
	}
	return segment{}, false
}

func matchUnit(seg string, _ place) (segment, bool) {
	for _, suffix := range []string{".service", ".scope", ".slice"} {
		if strings.HasSuffix(seg, suffix) && len(seg) > len(suffix) {
			return segment{kind: segUnit, unit: unescapeUnit(seg), runtime: "systemd"}, true
		}
	}
	return segment{}, false
}

// unescapeUnit undoes systemd's \xNN escapes in unit names (systemd-escape:
// "system-serial\x2dgetty.slice" is the slice of serial-getty@.service).
func unescapeUnit(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// podUID recognizes "pod<uid>" (cgroupfs) and "kubepods-<qos>-pod<uid_with_underscores>.slice"
// (systemd); uid is an RFC 4122 UUID or, for static pods, the kubelet's
// 32-hex-digit config hash.
func podUID(seg string) (string, bool) {
	seg = strings.TrimSuffix(seg, ".slice")
	i := strings.LastIndex(seg, "pod")
	if i < 0 || (i > 0 && seg[i-1] != '-') {
		return "", false
	}
	uid := strings.ReplaceAll(seg[i+3:], "_", "-")
	if !isUID(uid) && !isConfigHash(uid) {
		return "", false
	}
	return uid, true
}

// isContainerID accepts the 64 hex digit ids every OCI runtime here uses.
func isContainerID(s string) bool { return len(s) == 64 && isHexString(s) }

// isConfigHash accepts a static pod's UID: the kubelet's hash of its manifest.
func isConfigHash(s string) bool { return len(s) == 32 && isHexString(s) }

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

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
