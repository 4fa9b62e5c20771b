"""ProcessModels of the adaptive LIF population (``floating_pt`` and ``fixed_pt``).

:class:`LifCore` is the NumPy step of one population (shared with the fused
network model); the two ProcessModels differ only in their constants and Var
types:

* float: float64 state in mV (relative to rest), NeuronConstsFloat;
* fixed: integer state in 2**-v_frac_bits mV (24-bit values stored in int64,
  saturating), 12-bit decays, FixedConstants; the drive arrives as int32.

Noise is drawn for blocks of ``NOISE_BLOCK`` steps at once (one hash of a
(block, n) array); every value is a pure function of (seed, step, neuron), so
blocking changes nothing but speed.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep import rng
from lava_sleep.fixed import to_fixed
from lava_sleep.kernels import neuron as neuron_k
from lava_sleep.processes.lif_adaptive.process import AdaptiveLIF
from lava_sleep.processes.sleep_controller.process import (
    CTRL_ASLEEP,
    CTRL_IMAGE_END,
    CTRL_LEARN,
    CTRL_RECORD,
    CTRL_REST,
)

#: Steps of noise drawn per hash call (speed only; values do not depend on it).
NOISE_BLOCK = 64


class LifCore:
    """One population's neuron step (NumPy): constants plus a noise cache.

    Args:
        params: ModelParams. seed: run seed. index_offset: global index of the
        first neuron. n: population size. fixed: integer (FixedConstants) or
        float64 (NeuronConstsFloat) arithmetic.
    """

    def __init__(self, params, seed: int, index_offset: int, n: int, fixed: bool):
        self.fixed = fixed
        self.consts = to_fixed(params) if fixed else neuron_k.neuron_consts_float(params)
        self.dtype = np.int64 if fixed else np.float64
        self.a_decay_every = params.neuron.a_decay_every
        self.freeze_adaptation = params.neuron.freeze_adaptation
        self.seed = int(seed)
        self.n = n
        self.index = np.arange(index_offset, index_offset + n, dtype=np.int64)
        self._z0 = -1
        self._z = np.zeros((0, n), dtype=np.int64)
        self._noise = {}  # asleep -> noise of the cached block

    def zeros(self) -> np.ndarray:
        return np.zeros(self.n, dtype=self.dtype)

    def noise_int(self, t: int) -> np.ndarray:
        """Integer normals z of global step t (drawn NOISE_BLOCK steps at a time)."""
        if not self._z0 <= t < self._z0 + self._z.shape[0]:
            steps = np.arange(t, t + NOISE_BLOCK)
            k1 = rng.key_array(self.seed, rng.Stream.NOISE, steps, 0)
            k2 = rng.key_array(self.seed, rng.Stream.NOISE, steps, 1)
            self._z = rng.normal_int_np(k1[:, None], k2[:, None], self.index[None, :])
            self._z0 = t
            self._noise = {}
        return self._z[t - self._z0]

    def noise(self, t: int, asleep: bool) -> np.ndarray:
        """Membrane noise of global step t (the kernel's elementwise conversion, done per block)."""
        self.noise_int(t)  # refreshes the block (and clears the converted blocks) when needed
        block = self._noise.get(bool(asleep))
        if block is None:
            block = neuron_k.noise_from_int(self._z, self.consts, asleep, self.dtype)
            self._noise[bool(asleep)] = block
        return block[t - self._z0]

    def step(self, u, v, a, drive, t: int, asleep: bool, learn: bool = True):
        """One step at global step t; returns (u, v, a, spikes). The adaptation decays only when
        ``(t + 1) % a_decay_every == 0``; with learning off (``learn``: the run's learn flag) under
        ``freeze_adaptation`` it is left unchanged."""
        noise = self.noise(t, asleep)
        if self.fixed and drive.dtype != np.int64:
            drive = drive.astype(np.int64)
        decay_a = neuron_k.adaptation_decays(t, self.a_decay_every)
        adapt = neuron_k.adaptation_runs(learn, self.freeze_adaptation)
        return neuron_k.neuron_step(u, v, a, drive, noise, self.consts, decay_a, adapt)


class AbstractAdaptiveLifModel(PyLoihiProcessModel):
    """Behaviour shared by the float and fixed models (types set by subclasses)."""

    ctrl_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    counts_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    rec_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    count: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    FIXED = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        n = p["shape"][0]
        self.t0 = int(p["t0"])
        self.core = LifCore(p["params"], p["seed"], p["index_offset"], n, self.FIXED)

    def run_spk(self):
        ctrl = self.ctrl_in.recv()
        drive = self.a_in.recv()
        asleep = bool(ctrl[CTRL_ASLEEP])
        t = self.t0 + self.time_step - 1
        self.u, self.v, self.a, s = self.core.step(self.u, self.v, self.a, drive, t, asleep,
                                                   bool(ctrl[CTRL_LEARN]))
        self.s_out.send(s)
        if not asleep and not ctrl[CTRL_REST]:  # presentation steps only
            self.count += s
            if ctrl[CTRL_IMAGE_END]:
                self.counts_out.send(self.count.astype(np.float64))
                self.count[:] = 0
        if ctrl[CTRL_RECORD]:
            self.rec_out.send(s)


@implements(proc=AdaptiveLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyAdaptiveLifModelFloat(AbstractAdaptiveLifModel):
    """Float64 adaptive LIF (state in mV relative to v_rest)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    u: np.ndarray = LavaPyType(np.ndarray, np.float64)
    v: np.ndarray = LavaPyType(np.ndarray, np.float64)
    a: np.ndarray = LavaPyType(np.ndarray, np.float64)
    FIXED = False


@implements(proc=AdaptiveLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyAdaptiveLifModelFixed(AbstractAdaptiveLifModel):
    """Fixed-point adaptive LIF: 24-bit u, v, a (2**-v_frac_bits mV), int32 drive."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    a: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    FIXED = True
