"""The batched torch engine: B independent networks, float64/float32/integer, CPU or CUDA.

See :mod:`lava_sleep.engine.simulator` and docs/engine.md. ``TorchSimulator`` is what
``lava_sleep.backends.make_simulator("torch", ...)`` returns.
"""

from lava_sleep.engine.simulator import TorchSimulator

__all__ = ["TorchSimulator"]
