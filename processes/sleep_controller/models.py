"""ProcessModels of the sleep controller (``floating_pt`` and ``fixed_pt``).

:class:`SleepCore` holds the schedule state machine and the decay; the graph
models below drive it from Lava's phases (control vector in the spiking phase,
decay in the post-learning management phase through RefPorts) and the fused
network model (lava_sleep.processes.ei_network) calls the same core directly.

Per step, with the oracle's order (lava_sleep.reference):

1. spiking phase, step t: ``begin_step`` decides the step's control vector
   (asleep, image_end) and advances the counters (wake step, or sleep step
   ``used``/``since``); a wake step that completes a period triggers an episode.
2. management phase of step t (``post_guard`` true only at a trigger or a block
   end): at a trigger, read the totals before the episode and fall asleep from
   step t + 1; at a block end, settle the decay of the ``since`` sleep steps on
   every plastic pathway (keys counter = t + 1, as the oracle's step counter has
   already advanced there), apply floor/prune, check early wake-up, send the
   status and wake up if the episode is over.

Fixed point: magnitudes travel as int32 through the RefPorts (8-bit values)
and are widened to int64 for the decay (``A * m`` needs up to 24 + 8 bits).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep import rng
from lava_sleep.fixed import to_fixed
from lava_sleep.kernels import sleep as sleep_k
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.processes.sleep_controller.process import (
    CMD_LEARN,
    CMD_RECORD,
    CMD_SLEEP_ON,
    CMD_STEPS,
    CTRL_ASLEEP,
    CTRL_IMAGE_END,
    CTRL_LEARN,
    CTRL_RECORD,
    CTRL_SIZE,
    STATUS_OVER,
    STATUS_SIZE,
    STATUS_START,
    STATUS_TOTALS_AFTER,
    STATUS_TOTALS_BEFORE,
    STATUS_USED,
    STATUS_WOKE,
    SleepController,
)


def receive_command(port) -> tuple[int, bool, bool, bool]:
    """Receive one host command: (steps of the chunk, learn, record spikes, sleep schedule on)."""
    cmd = port.recv()
    return int(cmd[CMD_STEPS]), bool(cmd[CMD_LEARN]), bool(cmd[CMD_RECORD]), bool(cmd[CMD_SLEEP_ON])


class SleepCore:
    """Schedule state machine and block decay of one network (NumPy only).

    Args:
        params: ModelParams. seed: run seed. init: NetworkInit (initial masks and
        float magnitudes). fixed: use the fixed-point decay (linear form, integer
        magnitudes in weight LSB, stochastic rounding with 2**-decay_frac_bits).
        settle: optional replacement of :meth:`settle` with the same signature and
        result (the fused model's compiled kernel settles the block in its own state).
    """

    def __init__(self, params, seed: int, init, fixed: bool, settle=None):
        if settle is not None:
            self.settle = settle
        self.params = params
        self.seed = int(seed)
        self.fixed = fixed
        self.fc = to_fixed(params) if fixed else None
        sp = params.sleep
        self.block, self.period, self.tol = sp.block, sp.period, sp.tol
        self.spi = params.input.steps_per_image
        self.sleeping_enabled = sp.fraction > 0
        m0 = init.magnitudes_fixed() if fixed else {n: v.astype(np.float64) for n, v in
                                                    init.magnitudes.items()}
        self.plastic = params.network.plastic_pathways
        self.const_totals = {n: float(m0[n].sum()) for n in PATHWAY_NAMES}
        self.masks = {n: init.masks[n].copy() for n in self.plastic}
        self._present_cache = {}  # name -> (mask object, flat indices of its present synapses)
        self.total0, self.row_total0, self.decay = {}, {}, {}
        for n in self.plastic:
            self.total0[n] = m0[n].sum()
            self.row_total0[n] = m0[n].sum(-1)
            nsyn = int(self.masks[n].sum())
            static = float(m0[n].sum()) / nsyn if nsyn else 0.0
            self.decay[n] = sleep_k.decay_consts(params, n, static, self.fc)
        # schedule state
        self.wake_t = 0
        self.n_episodes = 0
        self.sleep_steps_total = 0
        self.asleep = False
        self.trigger = False
        self.block_end = False
        self.used = self.since = self.planned = 0
        self.start_step = 0
        self.totals_before = dict(self.const_totals)

    # -- spiking phase -------------------------------------------------------
    def begin_step(self, sleep_on: bool) -> tuple[bool, bool]:
        """Advance the schedule by one step; returns (asleep, image_end) of this step."""
        if self.asleep:
            self.used += 1
            self.since += 1
            self.block_end = self.used % self.block == 0 or self.used == self.planned
            return True, False
        image_end = (self.wake_t + 1) % self.spi == 0
        self.wake_t += 1
        if sleep_on and self.sleeping_enabled and self.wake_t % self.period == 0:
            self.n_episodes += 1
            self.planned = self.params.sleep.episode_length(self.n_episodes)
            self.trigger = self.planned > 0
        return False, image_end

    def ctrl_vector(self, asleep: bool, learn: bool, record: bool, image_end: bool) -> np.ndarray:
        c = np.zeros(CTRL_SIZE, dtype=np.int32)
        c[CTRL_ASLEEP], c[CTRL_LEARN] = asleep, learn
        c[CTRL_RECORD], c[CTRL_IMAGE_END] = record, image_end
        return c

    def needs_post(self) -> bool:
        """True when this step needs the management phase (trigger or block end)."""
        return self.trigger or self.block_end

    # -- management phase ----------------------------------------------------
    def end_step(self, t: int, io) -> np.ndarray | None:
        """Management work of global step ``t``; returns a status vector at block ends.

        ``io`` gives access to the plastic magnitudes: ``read(name) -> m``,
        ``write(name, m)``, ``write_mask(name, mask)`` and ``sync()``.
        """
        if self.trigger:
            self.trigger = False
            self.totals_before = self._totals({n: io.read(n) for n in self.plastic})
            self.asleep = True
            self.used = self.since = 0
            self.start_step = t + 1
            return None
        if not self.block_end:
            return None
        self.block_end = False
        current = {}
        for n in self.plastic:
            m = io.read(n)
            m, mask = self.settle(n, m, t + 1, self.since)
            io.write(n, m)
            if not np.array_equal(mask, self.masks[n]):
                self.masks[n] = mask
                io.write_mask(n, mask)
            current[n] = m
        io.sync()
        self.since = 0
        woke = False
        if self.used < self.planned:
            tot = [float(current[n].sum()) for n in self.plastic]
            tot0 = [float(self.total0[n]) for n in self.plastic]
            woke = bool(sleep_k.wake_check(tot, tot0, self.tol))
        over = woke or self.used == self.planned
        status = np.zeros(STATUS_SIZE, dtype=np.float64)
        status[STATUS_OVER], status[STATUS_USED], status[STATUS_WOKE] = over, self.used, woke
        status[STATUS_START] = self.start_step
        after = self._totals(current)
        for i, n in enumerate(PATHWAY_NAMES):
            status[STATUS_TOTALS_BEFORE + i] = self.totals_before[n]
            status[STATUS_TOTALS_AFTER + i] = after[n]
        if over:
            self.asleep = False
            self.sleep_steps_total += self.used
        return status

    def settle(self, name: str, m, t_key: int, k_steps: int):
        """Decay block of ``k_steps`` sleep steps on pathway ``name``; returns (m, mask).

        Random numbers: fixed - r = uniform_u32(key(seed, DECAY + p, t_key), synapse)
        >> (32 - decay_frac_bits); float with noise - xi = normal_int(two keys) /
        NORMAL_INT_SD (both through the bit-identical uint32 fast paths of
        plastic_dense.models). ``t_key`` is the oracle's step counter at the block end.
        The draws are made for present synapses only: decay_block uses them elementwise
        and zeroes absent synapses, so their draws never reach a value (0 is used there).
        """
        idx = PATHWAY_NAMES.index(name)
        dc = self.decay[name]
        mask = self.masks[name]
        xi = r = None
        if self.fixed:
            m = np.asarray(m).astype(np.int64)
            k = rng.key(self.seed, rng.Stream.DECAY + idx, t_key)
            present = self._present(name, mask)
            r = np.zeros(m.shape, dtype=np.int64)
            np.put(r, present, rng.uniform_u32_np(k, present) >> (32 - dc.decay_frac_bits))
        else:
            m = np.asarray(m, dtype=np.float64)
            if dc.noise > 0:
                k1 = rng.key(self.seed, rng.Stream.DECAY + idx, t_key, 0)
                k2 = rng.key(self.seed, rng.Stream.DECAY + idx, t_key, 1)
                present = self._present(name, mask)
                xi = np.zeros(m.shape, dtype=np.float64)
                np.put(xi, present, rng.normal_int_np(k1, k2, present).astype(np.float64) / rng.NORMAL_INT_SD)
        m = sleep_k.decay_block(dc, m, mask, self.total0[name], self.row_total0[name], k_steps,
                                xi=xi, r=r)
        return sleep_k.floor_and_prune(dc, m, mask)

    def _present(self, name: str, mask) -> np.ndarray:
        """Flat indices of the present synapses of ``mask`` (cached per mask object)."""
        cached = self._present_cache.get(name)
        if cached is None or cached[0] is not mask:
            cached = self._present_cache[name] = (mask, np.flatnonzero(mask))
        return cached[1]

    def _totals(self, current) -> dict[str, float]:
        out = dict(self.const_totals)
        for n, m in current.items():
            out[n] = float(np.asarray(m).sum())
        return out


class _RefPortIO:
    """Reads and writes plastic magnitudes through the controller's RefPorts."""

    def __init__(self, model, fixed: bool):
        self.model = model
        self.fixed = fixed
        self.dtype = np.int32 if fixed else np.float64
        self.written = []

    def read(self, name):
        m = getattr(self.model, f"ref_w_{name}").read()
        return m.astype(np.int64) if self.fixed else m

    def write(self, name, m):
        port = getattr(self.model, f"ref_w_{name}")
        port.write(np.asarray(m).astype(self.dtype))
        self.written.append(port)

    def write_mask(self, name, mask):
        port = getattr(self.model, f"ref_mask_{name}")
        port.write(np.asarray(mask).astype(self.dtype))
        self.written.append(port)

    def sync(self):
        """Wait until every write of this phase has been acknowledged (one read each)."""
        for port in self.written:
            port.wait()
        self.written = []


class AbstractSleepControllerModel(PyLoihiProcessModel):
    """Common behaviour of the float and fixed controller models.

    The host sends one command per run chunk on ``cmd_in``; the model reads it at
    the chunk's first step and counts the chunk down, so it never blocks on the
    host inside a chunk.
    """

    cmd_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    ctrl_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    status_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    FIXED = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.core = SleepCore(p["params"], p["seed"], p["init"], self.FIXED)
        self.io = _RefPortIO(self, self.FIXED)
        self.chunk_left = 0
        self.learn = self.record = self.sleep_on = False

    def run_spk(self):
        if self.chunk_left == 0:
            self.chunk_left, self.learn, self.record, self.sleep_on = receive_command(self.cmd_in)
        self.chunk_left -= 1
        asleep, image_end = self.core.begin_step(self.sleep_on)
        self.ctrl_out.send(self.core.ctrl_vector(asleep, self.learn, self.record, image_end))

    def post_guard(self):
        return self.core.needs_post()

    def run_post_mgmt(self):
        status = self.core.end_step(self.time_step - 1, self.io)
        if status is not None:
            self.status_out.send(status)


@implements(proc=SleepController, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySleepControllerModelFloat(AbstractSleepControllerModel):
    """Float controller: float64 magnitudes through float64 RefPorts."""

    ref_w_XE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    ref_w_EE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    ref_w_EI: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    ref_w_IE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    ref_mask_XE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    ref_mask_EE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    ref_mask_EI: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    ref_mask_IE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.float64)
    FIXED = False


@implements(proc=SleepController, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySleepControllerModelFixed(AbstractSleepControllerModel):
    """Fixed controller: 8-bit magnitudes (w_bits) through int32 RefPorts, linear decay."""

    ref_w_XE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=8)
    ref_w_EE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=8)
    ref_w_EI: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=8)
    ref_w_IE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=8)
    ref_mask_XE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=1)
    ref_mask_EE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=1)
    ref_mask_EI: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=1)
    ref_mask_IE: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=1)
    FIXED = True
