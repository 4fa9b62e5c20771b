"""Spike gate: passes a spike stream while awake and silences it during sleep.

Put it between any spike source and its targets (``src.s_out -> gate.s_in``,
``gate.s_out -> dense.s_in``) and hand it to
:class:`~lava_sleep.processes.sleep_controller.process.SleepController` (``gates=[gate]``),
which connects its control vector to ``ctrl_in``. Per step t::

    s_out[t] = s_in[t]   if ctrl_in[CTRL_ASLEEP][t] == 0   else 0

The gate adds no delay (it forwards within the spiking phase of the same step) and passes
graded spike values unchanged. Without a controller (``ctrl_in`` unconnected) it always passes.
"""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess

from lava_sleep.processes.sleep_controller.process import CTRL_SIZE


def as_shape(shape) -> tuple:
    """An int or a sequence of ints as a shape tuple."""
    return tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))


class SpikeGate(AbstractProcess):
    """Passes ``s_in`` to ``s_out`` while awake; sends zeros while asleep.

    Args:
        shape: shape of the spike stream.

    Ports: s_in (shape), ctrl_in (CTRL_SIZE,), s_out (shape).
    """

    def __init__(self, *, shape, name: str | None = None):
        shape = as_shape(shape)
        super().__init__(shape=shape, name=name)
        self.s_in = InPort(shape=shape)
        self.ctrl_in = InPort(shape=(CTRL_SIZE,))
        self.s_out = OutPort(shape=shape)
