"""NumPy reference step functions: the oracle every backend is tested against.

The functions are pure (state in, state out) and written with array operators
plus a handful of namespace calls (``where``, ``clip``, ``sign``, ``abs``), so they
accept NumPy arrays *and* torch tensors: the torch engine calls the same
element-wise kernels and adds only its event-driven propagation and batching.
This module never imports torch; the namespace is taken from the arguments.
"""

from lava_sleep.kernels.encode import input_spikes, input_thresholds
from lava_sleep.kernels.neuron import NeuronConstsFloat, neuron_consts_float, neuron_step
from lava_sleep.kernels.sleep import decay_block, floor_and_prune, wake_check
from lava_sleep.kernels.stdp import apply_epoch, stdp_delta, trace_step

__all__ = [
    "NeuronConstsFloat",
    "apply_epoch",
    "decay_block",
    "floor_and_prune",
    "input_spikes",
    "input_thresholds",
    "neuron_consts_float",
    "neuron_step",
    "stdp_delta",
    "trace_step",
    "wake_check",
]
