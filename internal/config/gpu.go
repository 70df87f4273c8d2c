package config

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// GPU holds the settings of the GPU probes (cuda, nvml).
type GPU struct {
	// NVMLInterval is how often NVML is polled; its calls take a driver lock.
	NVMLInterval time.Duration
	// CUDALeakWindow: device memory that grows through a whole window is
	// flagged as a suspected leak.
	CUDALeakWindow time.Duration
	// PodResourcesSocket is the kubelet pod-resources API; absent: no GPU-to-pod allocation.
	PodResourcesSocket string
}

func defaultGPU() GPU {
	return GPU{
		NVMLInterval:       5 * time.Second,
		CUDALeakWindow:     5 * time.Minute,
		PodResourcesSocket: "/var/lib/kubelet/pod-resources/kubelet.sock",
	}
}

func (g *GPU) bindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&g.NVMLInterval, "nvml-interval", g.NVMLInterval, "how often GPU devices and processes are read through NVML (at least 1s)")
	fs.DurationVar(&g.CUDALeakWindow, "cuda-leak-window", g.CUDALeakWindow, "CUDA device memory that grows through this whole window is flagged in orb8_cuda_memory_leak_suspected (at least 4s)")
	fs.StringVar(&g.PodResourcesSocket, "pod-resources-socket", g.PodResourcesSocket, "kubelet pod-resources socket, for which pod holds which GPU (absent: off)")
}

func (g *GPU) validate() error {
	if g.NVMLInterval < time.Second {
		return fmt.Errorf("--nvml-interval %s is too short: NVML holds a driver lock, use at least 1s", g.NVMLInterval)
	}
	if g.CUDALeakWindow < 4*time.Second {
		return fmt.Errorf("--cuda-leak-window %s is too short: use at least 4s (it is sampled in 4 steps of at least 1s)", g.CUDALeakWindow)
	}
	return nil
}
