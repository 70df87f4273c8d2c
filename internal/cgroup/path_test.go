package cgroup

import (
	"strings"
	"testing"
)

const (
	cid  = "4a6b8ee1c0d6b2a1c9e2bd8f7a8c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c"
	uid  = "0f7b9a4e-2a6d-4c1b-9d3e-8f6a5b4c3d2e"
	uidU = "0f7b9a4e_2a6d_4c1b_9d3e_8f6a5b4c3d2e"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name, path          string
		container, pod, run string
	}{
		{"cgroupfs besteffort containerd", "/kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, ""},
		{"cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + cid, cid, uid, ""},
		{"cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + cid, cid, uid, ""},
		{"cgroupfs pod sandbox level", "/kubepods/besteffort/pod" + uid, "", uid, ""},
		{"systemd containerd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", cid, uid, "containerd"},
		{"systemd cri-o", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + cid + ".scope", cid, uid, "cri-o"},
		{"systemd cri-o conmon is not the container", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-conmon-" + cid + ".scope", "", uid, ""},
		{"systemd guaranteed docker", "/kubepods.slice/kubepods-pod" + uidU + ".slice/docker-" + cid + ".scope", cid, uid, "docker"},
		{"kind nested kubelet", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", cid, uid, "containerd"},
		{"nested cgroupfs kubelet", "/kubelet/kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, ""},
		{"docker cgroupfs", "/docker/" + cid, cid, "", "docker"},
		{"docker systemd", "/system.slice/docker-" + cid + ".scope", cid, "", "docker"},
		{"podman", "/machine.slice/libpod-" + cid + ".scope", cid, "", "podman"},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope", cid, "", "podman"},
		{"containerd default namespace", "/default/" + cid, cid, "", "containerd"},
		{"nerdctl", "/system.slice/nerdctl-" + cid + ".scope", cid, "", "containerd"},
		{"systemd service", "/system.slice/sshd.service", "", "", ""},
		{"user session", "/user.slice/user-0.slice/session-3.scope", "", "", ""},
		{"root", "/", "", "", ""},
		{"empty", "", "", "", ""},
		{"short id is not a container", "/docker/abc123", "", "", ""},
		{"pod outside kubepods is not a pod", "/pod" + uid + "/" + cid, "", "", ""},
		{"bad uid", "/kubepods/besteffort/podnot-a-uid/" + cid, "", "", ""},
		{"docker scope with short id", "/system.slice/docker-1234.scope", "", "", ""},
		{"trailing slash", "/kubepods/besteffort/pod" + uid + "/" + cid + "/", cid, uid, ""},
		{"upper-case hex id", "/docker/" + strings.ToUpper(cid), strings.ToUpper(cid), "", "docker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parsePath(tt.path)
			if got.ContainerID != tt.container || got.PodUID != tt.pod || got.Runtime != tt.run {
				t.Fatalf("parsePath(%q) = %+v, want container %q pod %q runtime %q", tt.path, got, tt.container, tt.pod, tt.run)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/kubepods/besteffort/pod" + uid + "/" + cid,
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope",
		"/system.slice/docker-" + cid + ".scope", "/", "", "//", "pod", "kubepods/pod", ".scope", "-pod.slice",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got := parsePath(path)
		if got.ContainerID != "" && !isContainerID(got.ContainerID) {
			t.Fatalf("parsePath(%q) returned container id %q that is not one", path, got.ContainerID)
		}
		if got.PodUID != "" && !isUID(got.PodUID) {
			t.Fatalf("parsePath(%q) returned pod UID %q that is not one", path, got.PodUID)
		}
		if got.ContainerID != "" && !strings.Contains(strings.ToLower(path), strings.ToLower(got.ContainerID)) {
			t.Fatalf("parsePath(%q) invented container id %q", path, got.ContainerID)
		}
	})
}
