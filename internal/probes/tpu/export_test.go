package tpu

// For the agent-level tests of package tpu_test, which share this test
// binary (and its TestMain helpers).
var (
	NewForTest    = newProbe
	StartWorkload = startWorkload
	TPUSysfs      = tpuSysfs
	WorkloadGauge = workloadSeries
)

// WantedFromFake is what the probe must export for the fake v5e host.
func WantedFromFake() map[string]map[string]float64 {
	_, want := v5eHost()
	delete(want, "orb8_workload_accelerator_idle_seconds") // listed without data: no series
	return want
}
