package insights

import (
	"fmt"
	"math"
)

// CPUQuantity is cores as a Kubernetes quantity, rounded up to a
// millicore: 623m, 2.
func CPUQuantity(cores float64) string {
	m := math.Ceil(cores*1000 - 1e-9)
	if math.Mod(m, 1000) == 0 {
		return fmt.Sprintf("%.0f", m/1000)
	}
	return fmt.Sprintf("%.0fm", m)
}

// MemoryQuantity is bytes as a Kubernetes quantity in Mi (rounded up) or
// Gi.
func MemoryQuantity(bytes float64) string {
	mi := math.Ceil(bytes/(1<<20) - 1e-9)
	if math.Mod(mi, 1024) == 0 && mi > 0 {
		return fmt.Sprintf("%.0fGi", mi/1024)
	}
	return fmt.Sprintf("%.0fMi", mi)
}
