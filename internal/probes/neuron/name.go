package neuron

// Name is the probe's name in configuration and metrics.
const Name = "neuron"
