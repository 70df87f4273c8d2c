package events

// KindCUDA is a CUDA kernel launch, sampled: sent while someone streams
// cuda events, at most a few thousand a second per CPU.
const KindCUDA = "cuda"

// CUDALaunch is what a cuda event adds: which kernel was launched, how.
type CUDALaunch struct {
	// Kernel is its name, demangled: the symbol of the host-side function
	// given to the runtime, or the name the driver looked the CUfunction up
	// by; "[unknown]" when neither is known.
	Kernel string `json:"kernel"`
	// Runtime is the accelerator runtime ("cuda"); API the level launched
	// at: "runtime" (cudaLaunchKernel...) or "driver" (cuLaunchKernel...).
	Runtime     string    `json:"runtime"`
	API         string    `json:"api"`
	Grid        [3]uint32 `json:"grid"`
	Block       [3]uint32 `json:"block"`
	SharedBytes uint32    `json:"sharedBytes"`
	// Stream is the stream's handle in the process (0: the default stream).
	Stream uint64 `json:"stream"`
	TID    uint32 `json:"tid"`
}
