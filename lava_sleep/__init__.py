"""lava-sleep: sleep-inspired homeostatic regularization of STDP in recurrent SNNs.

One model (docs/model.md), several executable forms that provably agree: the
NumPy reference kernels (:mod:`lava_sleep.kernels`, the oracle), Lava Processes
(:mod:`lava_sleep.processes`) and the batched torch engine
(:mod:`lava_sleep.engine`). Backends are selected in :mod:`lava_sleep.backends`.
"""

__version__ = "0.1.0"
