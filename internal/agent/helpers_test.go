package agent

import (
	"os"
	"time"
)

// removeDir removes an emptied cgroup directory, retrying while the kernel
// finishes reaping its last process.
func removeDir(dir string) error {
	var err error
	for range 100 {
		if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}
