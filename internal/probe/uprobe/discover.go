package uprobe

import (
	"context"
	"os"
	"strconv"
	"time"
)

const (
	// RescanDelay lets a reported mmap finish, and batches a process's
	// mappings at exec or dlopen into one read of its maps.
	RescanDelay = 150 * time.Millisecond
	// FullScanEvery catches what the mmap reports missed (a full ring) and
	// lets the caller unhook library files no process maps any more.
	FullScanEvery = 30 * time.Second
)

// Discover calls scanPID for each process received from rescan (a hook on
// mmap reports them), once per burst of mappings, RescanDelay after the
// first, and scanAll every FullScanEvery, until ctx ends. Its timer runs
// only while a rescan is due, so an idle agent is not woken for nothing.
func Discover(ctx context.Context, rescan <-chan int, scanPID func(pid int), scanAll func()) {
	full := time.NewTicker(FullScanEvery)
	defer full.Stop()
	due := map[int]time.Time{}
	timer := time.NewTimer(RescanDelay)
	timer.Stop()
	defer timer.Stop()
	var wake <-chan time.Time // nil while nothing is due
	for {
		select {
		case <-ctx.Done():
			return
		case pid := <-rescan:
			if _, ok := due[pid]; !ok {
				due[pid] = time.Now().Add(RescanDelay)
			}
			if wake == nil {
				timer.Reset(RescanDelay)
				wake = timer.C
			}
		case now := <-wake:
			var next time.Time
			for pid, at := range due {
				if !now.Before(at) {
					delete(due, pid)
					scanPID(pid)
				} else if next.IsZero() || at.Before(next) {
					next = at
				}
			}
			if next.IsZero() {
				wake = nil
			} else {
				timer.Reset(next.Sub(now))
			}
		case <-full.C:
			scanAll()
		}
	}
}

// MappedByAll calls scan for every process of a procfs mount (/proc) and
// returns the files any of them maps, as scan reports them: what a caller
// that hooks files keeps, unhooking the others.
func MappedByAll(proc string, scan func(pid int) []FileID) (map[FileID]bool, error) {
	pids, err := PIDs(proc)
	if err != nil {
		return nil, err
	}
	return MappedBy(pids, scan), nil
}

// PIDs lists the processes of a procfs mount (/proc).
func PIDs(proc string) ([]int, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// MappedBy is MappedByAll for the processes pids only: where the kernel
// has already said which processes can map a hooked file.
func MappedBy(pids []int, scan func(pid int) []FileID) map[FileID]bool {
	mapped := map[FileID]bool{}
	for _, pid := range pids {
		for _, id := range scan(pid) {
			mapped[id] = true
		}
	}
	return mapped
}
