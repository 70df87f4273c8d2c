package cgroup

import (
	"strings"
	"testing"
)

const (
	cid  = "4a6b8ee1c0d6b2a1c9e2bd8f7a8c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c"
	cid2 = "d4a9f9195eaf7e4a729f24151101e1de61f1398677e7b82acfb936dff0b4ce55"
	uid  = "0f7b9a4e-2a6d-4c1b-9d3e-8f6a5b4c3d2e"
	uidU = "0f7b9a4e_2a6d_4c1b_9d3e_8f6a5b4c3d2e"
	uid2 = "4ed02c0b-0df8-4d14-a30e-fd589ee4143a"
	// A static pod's UID: the kubelet's hash of its manifest.
	hash = "3e61c214bc3ed9ff81e21474dd6cba17"
	// kind's node container on the host.
	node = "/system.slice/docker-cf87ba651579c9231db817909e7865e5747bd7abcac0c57ce23cf4abbaee046b.scope"
)

// Paths as runtimes and drivers make them, several from real hosts and
// from coroot-node-agent's cgroup tests.
func TestParsePath(t *testing.T) {
	tests := []struct {
		name, path                string
		container, pod, run, unit string
	}{
		// Kubernetes, cgroupfs driver.
		{"cgroupfs besteffort containerd", "/kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, "", ""},
		{"cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + cid, cid, uid, "", ""},
		{"cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + cid, cid, uid, "", ""},
		{"cgroupfs pod sandbox level", "/kubepods/besteffort/pod" + uid, "", uid, "", ""},
		{"cgroupfs static pod", "/kubepods/burstable/pod" + hash + "/" + cid, cid, hash, "", ""},
		{"cgroupfs cri-o", "/kubepods/pod" + uid + "/crio-" + cid, cid, uid, "cri-o", ""},
		{"cgroupfs talos pod", "/kubepods/burstable/pod" + uid + "/" + cid, cid, uid, "", ""},
		// Kubernetes, systemd driver.
		{"systemd containerd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", cid, uid, "containerd", ""},
		{"systemd containerd without .scope", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + cid, cid, uid, "containerd", ""},
		{"systemd static pod", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + hash + ".slice/cri-containerd-" + cid, cid, hash, "containerd", ""},
		{"systemd cri-o", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + cid + ".scope", cid, uid, "cri-o", ""},
		{"systemd cri-o conmon is not the container", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-conmon-" + cid + ".scope", "", uid, "", ""},
		{"systemd cri-o crun's container subgroup", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + cid + ".scope/container", cid, uid, "cri-o", ""},
		{"systemd guaranteed docker", "/kubepods.slice/kubepods-pod" + uidU + ".slice/docker-" + cid + ".scope", cid, uid, "docker", ""},
		{"systemd cri-dockerd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-dockerd-" + cid + ".scope", cid, uid, "docker", ""},
		{"containerd managing the cgroup under its service", "/system.slice/containerd.service/kubepods-burstable-pod" + strings.ReplaceAll(uid2, "-", "_") + ".slice:cri-containerd:" + cid2, cid2, uid2, "containerd", ""},
		// Nested nodes: the pod inside the node's container decides.
		{"kind nested kubelet", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", cid, uid, "containerd", ""},
		{"kind node seen from the host", node + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", cid, uid, "containerd", ""},
		{"k3d node (docker cgroupfs) seen from the host", "/docker/" + cid2 + "/kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, "", ""},
		{"k3s in a container with cgroupns", node + "/kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, "", ""},
		{"nested cgroupfs kubelet", "/kubelet/kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, "", ""},
		// The first pod and the container directly under it decide.
		{"deeper cgroups stay the container's", "/kubepods/besteffort/pod" + uid + "/" + cid + "/kube-proxy", cid, uid, "", ""},
		{"spoof: a pod nested in a container (cgroupfs)", "/kubepods/besteffort/pod" + uid + "/" + cid + "/kubepods/besteffort/pod" + uid2 + "/" + cid2, cid, uid, "", ""},
		{"spoof: a pod nested in a container (systemd)", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope/kubepods-besteffort-pod" + strings.ReplaceAll(uid2, "-", "_") + ".slice/cri-containerd-" + cid2 + ".scope", cid, uid, "containerd", ""},
		{"spoof: a container nested in the pod's sandbox level", "/kubepods/besteffort/pod" + uid + "/kubepods/pod" + uid2 + "/" + cid2, "", uid, "", ""},
		{"spoof: a container nested in a container", "/kubepods/besteffort/pod" + uid + "/" + cid + "/" + cid2, cid, uid, "", ""},
		{"spoof: a scope nested in a docker container", "/system.slice/docker-" + cid + ".scope/docker-" + cid2 + ".scope", cid, "", "docker", ""},
		// Containers outside Kubernetes.
		{"docker cgroupfs", "/docker/" + cid, cid, "", "docker", ""},
		{"docker systemd", "/system.slice/docker-" + cid + ".scope", cid, "", "docker", ""},
		{"podman", "/machine.slice/libpod-" + cid + ".scope", cid, "", "podman", ""},
		{"podman pod", "/machine.slice/machine-libpod_pod_" + cid2 + ".slice/libpod-" + cid + ".scope", cid, "", "podman", ""},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope", cid, "", "podman", ""},
		{"containerd default namespace", "/default/" + cid, cid, "", "containerd", ""},
		{"nerdctl", "/system.slice/nerdctl-" + cid + ".scope", cid, "", "containerd", ""},
		{"lxc", "/lxc/mysql-primary-db", "mysql-primary-db", "", "lxc", ""},
		{"lxd on cgroup v2", "/lxc.payload.web1", "web1", "", "lxc", ""},
		{"lxd payload's own services stay the container's", "/lxc.payload.web1/system.slice/nginx.service", "web1", "", "lxc", ""},
		// Talos Linux's own services.
		{"talos kubelet", "/podruntime/kubelet", "", "", "talos", "kubelet"},
		{"talos runtime", "/podruntime/runtime", "", "", "talos", "runtime"},
		{"talos system service", "/system/dashboard", "", "", "talos", "dashboard"},
		{"talos init", "/init", "", "", "talos", "init"},
		// systemd units.
		{"systemd service", "/system.slice/sshd.service", "", "", "systemd", "sshd.service"},
		{"systemd escaped slice", `/system.slice/system-serial\x2dgetty.slice`, "", "", "systemd", "system-serial-getty.slice"},
		{"systemd template instance", "/system.slice/system-postgresql.slice/postgresql@9.4-main.service", "", "", "systemd", "postgresql@9.4-main.service"},
		{"systemd runtime slice", "/runtime.slice/kubelet.service", "", "", "systemd", "kubelet.service"},
		{"user session", "/user.slice/user-0.slice/session-3.scope", "", "", "systemd", "session-3.scope"},
		{"user manager's services are the manager's", "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service", "", "", "systemd", "user@1000.service"},
		{"a delegated service's sub-cgroups are the service's", "/system.slice/foo.service/bar.service", "", "", "systemd", "foo.service"},
		// Nothing to recognise.
		{"root", "/", "", "", "", ""},
		{"empty", "", "", "", "", ""},
		{"test cgroup", "/orb8-test-TestParsePath-1-2", "", "", "", ""},
		{"short id is not a container", "/docker/abc123", "", "", "", ""},
		{"pod outside kubepods is not a pod", "/pod" + uid + "/" + cid, "", "", "", ""},
		{"bad uid", "/kubepods/besteffort/podnot-a-uid/" + cid, "", "", "", ""},
		{"31 hex digits are no config hash", "/kubepods/besteffort/pod" + hash[1:] + "/" + cid, "", "", "", ""},
		{"docker scope with short id is a unit", "/system.slice/docker-1234.scope", "", "", "systemd", "docker-1234.scope"},
		{"trailing slash", "/kubepods/besteffort/pod" + uid + "/" + cid + "/", cid, uid, "", ""},
		{"upper-case hex id", "/docker/" + strings.ToUpper(cid), strings.ToUpper(cid), "", "docker", ""},
		{"bad escape left alone", `/system.slice/a\xZZ.service`, "", "", "systemd", `a\xZZ.service`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parsePath(tt.path)
			want := pathInfo{ContainerID: tt.container, PodUID: tt.pod, Runtime: tt.run, Unit: tt.unit}
			if got != want {
				t.Fatalf("parsePath(%q)\n got %+v\nwant %+v", tt.path, got, want)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/kubepods/besteffort/pod" + uid + "/" + cid,
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope",
		"/system.slice/containerd.service/kubepods-burstable-pod" + uidU + ".slice:cri-containerd:" + cid,
		"/system.slice/docker-" + cid + ".scope", `/system.slice/system-serial\x2dgetty.slice`, "/lxc/x", "/podruntime/kubelet",
		"/", "", "//", "pod", "kubepods/pod", ".scope", "-pod.slice", `\x`, "a:b:c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got := parsePath(path)
		if got.ContainerID != "" && !isContainerID(got.ContainerID) && got.Runtime != "lxc" {
			t.Fatalf("parsePath(%q) returned container id %q that is not one", path, got.ContainerID)
		}
		if got.PodUID != "" && !isUID(got.PodUID) && !isConfigHash(got.PodUID) {
			t.Fatalf("parsePath(%q) returned pod UID %q that is not one", path, got.PodUID)
		}
		if got.ContainerID != "" && !strings.Contains(strings.ToLower(path), strings.ToLower(got.ContainerID)) {
			t.Fatalf("parsePath(%q) invented container id %q", path, got.ContainerID)
		}
		if got.PodUID != "" && !strings.Contains(strings.ReplaceAll(path, "_", "-"), got.PodUID) {
			t.Fatalf("parsePath(%q) invented pod UID %q", path, got.PodUID)
		}
	})
}
