"""ProcessModels of the noise source (``floating_pt``: float64 current and spikes;
``fixed_pt``: int32 current rounded from the same draws, int32 0/1 spikes)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep import rng
from lava_sleep.processes.noise_source.process import NoiseSource
from lava_sleep.processes.sleep_controller.process import CTRL_ASLEEP


def noise_values(seed: int, kind: str, amp: float, t: int, index: np.ndarray) -> np.ndarray:
    """The float64 draws of step ``t``: current (amp * normal) or 0/1 spikes (Bernoulli(amp))."""
    if kind == "current":
        k1 = rng.key(seed, rng.Stream.EXT_NOISE, t, 0)
        k2 = rng.key(seed, rng.Stream.EXT_NOISE, t, 1)
        return amp * (rng.normal_int_np(k1, k2, index).astype(np.float64) / rng.NORMAL_INT_SD)
    k = rng.key(seed, rng.Stream.EXT_NOISE, t, 2)
    return (rng.uniform_u32_np(k, index) < rng.prob_to_threshold(amp)).astype(np.float64)


class AbstractNoiseSourceModel(PyLoihiProcessModel):
    """Draws of step t with the amplitude of the control vector's asleep bit."""

    ctrl_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    FIXED = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.seed, self.kind = p["seed"], p["kind"]
        self.amp = {True: p["sleep"], False: p["wake"]}
        n = int(np.prod(p["shape"]))
        self.index = (np.arange(n, dtype=np.int64) + p["index_offset"]).reshape(p["shape"])
        self.zeros = np.zeros(p["shape"], dtype=np.int32 if self.FIXED else np.float64)

    def run_spk(self):
        asleep = bool(self.ctrl_in.recv()[CTRL_ASLEEP])
        amp = self.amp[asleep]
        if amp == 0:
            out = self.zeros
        else:
            out = noise_values(self.seed, self.kind, amp, self.time_step - 1, self.index)
            if self.FIXED:
                out = np.rint(out).astype(np.int32)
        if self.kind == "current":
            self.a_out.send(out)
            self.s_out.send(self.zeros)
        else:
            self.a_out.send(self.zeros)
            self.s_out.send(out)


@implements(proc=NoiseSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyNoiseSourceModelFloat(AbstractNoiseSourceModel):
    """Float64 current or 0/1 spikes."""

    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    FIXED = False


@implements(proc=NoiseSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNoiseSourceModelFixed(AbstractNoiseSourceModel):
    """Integer current (rounded) or 0/1 spikes."""

    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    FIXED = True
