package insights

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Prices are what resources cost, per hour.
type Prices struct {
	CPUCoreHour   float64 `yaml:"cpu_core_hour" json:"cpu_core_hour"`
	MemoryGiBHour float64 `yaml:"memory_gib_hour" json:"memory_gib_hour"`
	GPUHour       float64 `yaml:"gpu_hour" json:"gpu_hour"`
	// NodeTypes prices whole nodes by their node.kubernetes.io/instance-type
	// label, per node-hour; a node of a listed type costs that, and the
	// resources on it are priced in proportion (see Cost).
	NodeTypes map[string]float64 `yaml:"node_types" json:"node_types"`
}

// LoadPrices reads a price file (YAML or JSON, the fields of Prices):
//
//	cpu_core_hour: 0.031611
//	memory_gib_hour: 0.004237
//	gpu_hour: 2.48
//	node_types: {m5.xlarge: 0.192, p4d.24xlarge: 32.77}
func LoadPrices(path string) (Prices, error) {
	var p Prices
	data, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("price file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("price file %s: %v", path, err)
	}
	return p, p.validate()
}

func (p Prices) validate() error {
	for name, v := range map[string]float64{"cpu_core_hour": p.CPUCoreHour, "memory_gib_hour": p.MemoryGiBHour, "gpu_hour": p.GPUHour} {
		if v < 0 {
			return fmt.Errorf("price %s is negative: %v", name, v)
		}
	}
	for t, v := range p.NodeTypes {
		if v < 0 {
			return fmt.Errorf("price of node type %s is negative: %v", t, v)
		}
	}
	if p.CPUCoreHour == 0 && p.MemoryGiBHour == 0 && p.GPUHour == 0 && len(p.NodeTypes) == 0 {
		return fmt.Errorf("no prices: give --price-cpu-core-hour, --price-memory-gib-hour, --price-gpu-hour or --price-file")
	}
	return nil
}
