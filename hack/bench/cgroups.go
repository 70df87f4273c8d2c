package main

import (
	"os/exec"
	"syscall"
)

// startInCgroup starts cmd inside the cgroup2 directory dir from its first
// instruction (clone3 CLONE_INTO_CGROUP), so its exec is counted there.
func startInCgroup(dir string, cmd *exec.Cmd) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return cmd.Start()
}
