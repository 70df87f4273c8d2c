// Package events carries single kernel events (exec, exit, ...) from probes to
// whoever streams them, without ever blocking a probe.
package events

import (
	"time"

	"github.com/orb8/orb8/internal/cgroup"
)

// Kinds of events.
const (
	KindExec    = "exec"
	KindExit    = "exit"
	KindOOM     = "oom"
	KindDNS     = "dns"
	KindSyscall = "syscall"
	KindTCP     = "tcp"
	KindPolicy  = "policy"
	KindAnomaly = "anomaly"
)

// Kinds lists every kind of event, for clients to choose from.
var Kinds = []string{KindExec, KindExit, KindOOM, KindDNS, KindSyscall, KindTCP, KindPolicy, KindAnomaly, KindCUDA, KindHTTP}

// Event is one thing that happened to a workload.
type Event struct {
	Time     time.Time       `json:"time"`
	Kind     string          `json:"kind"`
	Workload cgroup.Workload `json:"workload"`
	Process  Process         `json:"process"`
	Exit     *Exit           `json:"exit,omitempty"`
	Exec     *Exec           `json:"exec,omitempty"`
	OOM      *OOM            `json:"oom,omitempty"`
	DNS      *DNS            `json:"dns,omitempty"`
	Syscall  *Syscall        `json:"syscall,omitempty"`
	TCP      *TCP            `json:"tcp,omitempty"`
	Policy   *PolicyMatch    `json:"policy,omitempty"`
	Anomaly  *Anomaly        `json:"anomaly,omitempty"`
	CUDA     *CUDALaunch     `json:"cuda,omitempty"`
	HTTP     *HTTP           `json:"http,omitempty"`
}

// Process names the process an event belongs to.
type Process struct {
	PID  uint32 `json:"pid"`
	PPID uint32 `json:"ppid"`
	UID  uint32 `json:"uid"`
	Comm string `json:"comm"`
}

// Exec is what an exec event adds.
type Exec struct {
	// Filename is the program as given to execve.
	Filename string `json:"filename"`
	// Path is the executable resolved against the process's root (its
	// container's), and ParentPath the parent's; empty when unknown. A
	// truncated path keeps the components nearest the file.
	Path                string `json:"path,omitempty"`
	PathTruncated       bool   `json:"pathTruncated,omitempty"`
	ParentPath          string `json:"parentPath,omitempty"`
	ParentPathTruncated bool   `json:"parentPathTruncated,omitempty"`
	// Args is the new program's argv, argv[0] first, bounded (MaxExecArgs,
	// and 1 KiB in the kernel); ArgsTruncated says some were left out.
	Args          []string `json:"args,omitempty"`
	ArgsTruncated bool     `json:"argsTruncated,omitempty"`
}

// MaxExecArgs is the most arguments an exec event carries.
const MaxExecArgs = 16

// Exit is what an exit event adds: an exit code, or the fatal signal.
type Exit struct {
	Code       int    `json:"code"`
	Signal     int    `json:"signal,omitempty"`
	CoreDumped bool   `json:"coreDumped,omitempty"`
	Reason     string `json:"reason"` // "exit" or "signal"
	// Crash is set for the signals of program faults (SIGSEGV, SIGBUS,
	// SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP) and for core dumps.
	Crash    bool          `json:"crash,omitempty"`
	Lifetime time.Duration `json:"lifetimeNs"`
}

// OOM is what an oom event adds: the victim's memory when the OOM killer
// chose it (approximate, as the kernel's own oom/mark_victim event reports it).
type OOM struct {
	TotalVMBytes  uint64 `json:"totalVmBytes"`
	AnonRSSBytes  uint64 `json:"anonRssBytes"`
	FileRSSBytes  uint64 `json:"fileRssBytes"`
	ShmemRSSBytes uint64 `json:"shmemRssBytes"`
}

// PolicyMatch is an operation a policy rule matched: what the policy's
// mode let its action do.
type PolicyMatch struct {
	Policy string `json:"policy"`
	Rule   int    `json:"rule"`   // index in the policy's rules
	Action string `json:"action"` // kill, deny or audit
	Mode   string `json:"mode"`   // enforce: done; monitor: only reported
	// Operation is exec, connect or dns.
	Operation string `json:"operation"`
	// Exec: the program as given to execve and resolved, and its argv
	// (bounded as Exec's).
	Filename      string   `json:"filename,omitempty"`
	Path          string   `json:"path,omitempty"`
	Args          []string `json:"args,omitempty"`
	ArgsTruncated bool     `json:"argsTruncated,omitempty"`
	// Connect: where to.
	Address  string `json:"address,omitempty"`
	Port     uint16 `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	// DNS: the name looked up.
	Name string `json:"name,omitempty"`
}
