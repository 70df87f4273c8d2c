//go:build cgo

package amdsmi

// StandIn builds the stand-in libamd_smi.so and returns its path.
var StandIn = standIn
