"""Seeded noise source: keeps a network active while its input is silenced.

:class:`NoiseSource` sends, every step, either a current (``kind="current"``, Gaussian with
standard deviation ``sleep`` / ``wake``, to a neuron's ``a_in``) or Bernoulli spikes
(``kind="spikes"``, probability ``sleep`` / ``wake`` per step, to a connection's ``s_in``),
with the amplitude chosen by the sleep Process's control vector (``ctrl_in``; asleep ->
``sleep``, awake -> ``wake``; unconnected -> awake). Hand it to
:class:`~lava_sleep.processes.sleep_controller.process.SleepController` (``noise=[src]``).

Random numbers come from lava_sleep.rng (stream EXT_NOISE), so float and fixed models, and
any rerun with the same seed, draw the same values. At step t (0-based), element i::

    current:  xi = normal_int(key(seed, EXT_NOISE, t, 0), key(..., 1), i + index_offset) / NORMAL_INT_SD
              a_out = amp * xi                       (fixed: rint(amp * xi), int32)
    spikes:   s_out = uniform_u32(key(seed, EXT_NOISE, t, 2), i + index_offset) < round(amp * 2**32)

Both ports exist; the one of the other kind sends zeros. Connect the one you use.
"""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess

from lava_sleep.errors import UserError
from lava_sleep.processes.sleep_controller.process import CTRL_SIZE
from lava_sleep.processes.spike_gate.process import as_shape

NOISE_KINDS = ("current", "spikes")


class NoiseSource(AbstractProcess):
    """Gaussian current or Bernoulli spikes, switched between a wake and a sleep amplitude.

    Args:
        shape: output shape (neurons driven, or presynaptic sources).
        seed: seed of the noise stream.
        kind: "current" (``a_out``) or "spikes" (``s_out``).
        sleep: amplitude while asleep: current SD (the target's ``a_in`` units; fixed: integer
            units) or spike probability per step in [0, 1].
        wake: amplitude while awake (default 0: silent while awake).
        index_offset: first element index of the random streams (sources sharing a seed).

    Ports: ctrl_in (CTRL_SIZE,), a_out (shape), s_out (shape).
    """

    def __init__(self, *, shape, seed: int, kind: str = "current", sleep: float = 1.0,
                 wake: float = 0.0, index_offset: int = 0, name: str | None = None):
        shape = as_shape(shape)
        if kind not in NOISE_KINDS:
            raise UserError(f"NoiseSource: kind must be one of {NOISE_KINDS}, got {kind!r}")
        for label, amp in (("sleep", sleep), ("wake", wake)):
            if not amp >= 0 or (kind == "spikes" and amp > 1):
                bound = "in [0, 1]" if kind == "spikes" else ">= 0"
                raise UserError(f"NoiseSource: {label} must be {bound}, got {amp}")
        super().__init__(shape=shape, seed=int(seed), kind=kind, sleep=float(sleep), wake=float(wake),
                         index_offset=int(index_offset), name=name)
        self.ctrl_in = InPort(shape=(CTRL_SIZE,))
        self.a_out = OutPort(shape=shape)
        self.s_out = OutPort(shape=shape)

    def __del__(self):
        if "_runtime" in self.__dict__:  # not after a refused construction
            super().__del__()
