"""ProcessModels of the sleep Process (``floating_pt`` and ``fixed_pt``).

:class:`SleepCore` holds the schedule state machine and the decay of any list of managed
matrices (:class:`~lava_sleep.processes.sleep_controller.process.WeightSpec`); the models
below drive it from Lava's phases (control vector in the spiking phase, decay in the
post-learning management phase through RefPorts) and the fused network model
(lava_sleep.processes.ei_network) calls the same core directly
(:meth:`SleepCore.for_network`).

Per step, with the oracle's order (lava_sleep.reference):

1. spiking phase, step t: ``begin_step`` decides the step's control vector
   (asleep, image_end, rest, slot_end) and advances the counters (wake step, or sleep
   step ``used``/``since``); a wake step that completes a period triggers an episode.
2. management phase of step t (``post_guard`` true only at a trigger or a block
   end): at a trigger, read the totals before the episode and fall asleep from
   step t + 1; at a block end, settle the decay of the ``since`` sleep steps on
   every managed matrix (keys counter = t + 1, as the oracle's step counter has
   already advanced there), apply floor/prune, check early wake-up, send the
   status and wake up if the episode is over.

The core works on magnitudes. Lava's signed weights are split by :class:`_RefPortIO`:
``m = |w|`` masked, written back as ``sign * m`` (the sign of the current value, or of the
initial value where it is 0); a Sparse matrix keeps its stored pattern (see
:func:`_patch_sparse_var_ports`).

Fixed point: values travel as int32 through the RefPorts and are widened to int64 for the
decay (``A * m`` needs up to 24 + 8 bits). A fixed model refuses a Var whose initial values
are not integers (:class:`~lava_sleep.errors.SleepWeightError`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort, PyRefPort, PyVarPortVectorDense
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep import rng
from lava_sleep.kernels import sleep as sleep_k
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.processes.sleep_controller.process import (
    CMD_LEARN,
    CMD_RECORD,
    CMD_SLEEP_NOW,
    CMD_SLEEP_ON,
    CMD_STEPS,
    CTRL_ASLEEP,
    CTRL_IMAGE_END,
    CTRL_LEARN,
    CTRL_RECORD,
    CTRL_REST,
    CTRL_SIZE,
    CTRL_SLOT_END,
    MAX_WEIGHTS,
    STATUS_OVER,
    STATUS_START,
    STATUS_TOTALS_BEFORE,
    STATUS_USED,
    STATUS_WOKE,
    SleepController,
    WeightSpec,
    check_fixed,
    status_size,
)


def receive_command(port) -> tuple[int, bool, bool, bool, int]:
    """Receive one host command: (steps of the chunk, learn, record spikes, sleep schedule on,
    planned steps of an on-demand episode starting at the chunk's first step, 0: none)."""
    cmd = port.recv()
    return (int(cmd[CMD_STEPS]), bool(cmd[CMD_LEARN]), bool(cmd[CMD_RECORD]), bool(cmd[CMD_SLEEP_ON]),
            int(cmd[CMD_SLEEP_NOW]))


def network_specs(params, init) -> list[WeightSpec]:
    """Specs of our network's plastic pathways (the same as SleepController builds from the
    PlasticDense Processes): magnitudes, masks, bounds and stream = pathway index."""
    from lava_sleep.fixed import to_fixed

    fc = to_fixed(params)
    m0_fixed = init.magnitudes_fixed()
    specs = []
    for n in params.network.plastic_pathways:
        pw, pf = params.network.pathway(n), fc.pathways[n]
        mask = np.asarray(init.masks[n], dtype=bool)
        specs.append(WeightSpec(
            name=n, stream=PATHWAY_NAMES.index(n), shape=mask.shape, kind="magnitude", sparse=False,
            mask=mask, sign0=None, m0=np.asarray(init.magnitudes[n], dtype=np.float64),
            m0_fixed=m0_fixed[n], bounds=(pw.w_min, pw.w_max, params.sleep.w_floor),
            bounds_fixed=(pf.m_min, pf.m_max, pf.m_floor)))
    return specs


class SleepCore:
    """Schedule state machine and block decay of a list of managed matrices (NumPy only).

    Args:
        sleep: SleepParams (schedule and decay). seed: run seed. specs: WeightSpec per
        managed matrix. fixed: use the fixed-point decay (linear form, integer magnitudes,
        stochastic rounding with 2**-decay_frac_bits). steps_per_image: presentation steps per
        image (``image_end``, ``rest``, ``slot_end``; 0: never). rest_steps: rest steps after
        each presentation (an image slot is steps_per_image + rest_steps wake steps).
        decay_frac_bits: fixed-point decay fraction bits.
        settle: optional replacement of :meth:`settle` with the same signature and result
        (the fused model's compiled kernel settles the block in its own state).
        report: status names (default: the managed names) and constant totals of names that
        are not managed.
    """

    def __init__(self, sleep, seed: int, specs: list[WeightSpec], fixed: bool, steps_per_image: int = 0,
                 decay_frac_bits: int = 24, settle=None, rest_steps: int = 0):
        if settle is not None:
            self.settle = settle
        self.sleep_params = sleep
        self.seed = int(seed)
        self.fixed = fixed
        self.block, self.period, self.tol = sleep.block, sleep.period, sleep.tol
        self.spi = int(steps_per_image)
        self.slot = self.spi + int(rest_steps)
        self.sleeping_enabled = sleep.fraction > 0
        self.specs = {s.name: s for s in specs}
        self.plastic = [s.name for s in specs]
        if fixed:
            check_fixed(specs)
        m0 = {s.name: (s.m0_fixed if fixed else s.m0) for s in specs}
        self.masks = {s.name: s.mask.copy() for s in specs}
        self._present_cache = {}  # name -> (mask object, flat indices of its present synapses)
        self.total0, self.row_total0, self.decay = {}, {}, {}
        for s in specs:
            n = s.name
            self.total0[n] = m0[n].sum()
            self.row_total0[n] = m0[n].sum(-1)
            nsyn = int(self.masks[n].sum())
            static = float(m0[n].sum()) / nsyn if nsyn else 0.0
            lo, hi, floor = s.bounds_fixed if fixed else s.bounds
            self.decay[n] = sleep_k.DecayConsts(
                "linear" if fixed else sleep.form, sleep.target, sleep.decay_lam(),
                0.0 if fixed else sleep.decay_noise,
                static, lo, hi, floor, sleep.prune, fixed, decay_frac_bits)
        # schedule state
        self.wake_t = 0
        self.n_episodes = 0
        self.sleep_steps_total = 0
        self.asleep = False
        self.trigger = False
        self.block_end = self.settle_now = False
        self.used = self.since = self.planned = 0
        self.start_step = 0
        self.totals_before = {n: float(m0[n].sum()) for n in self.plastic}

    @classmethod
    def for_network(cls, params, seed: int, init, fixed: bool, settle=None) -> SleepCore:
        """The core of our network (plastic pathways of ``init``), as the EINetwork runs it."""
        from lava_sleep.fixed import to_fixed

        return cls(params.sleep, seed, network_specs(params, init), fixed,
                   steps_per_image=params.input.steps_per_image,
                   decay_frac_bits=to_fixed(params).decay_frac_bits, settle=settle,
                   rest_steps=params.input.rest_steps)

    # -- spiking phase -------------------------------------------------------
    def begin_step(self, sleep_on: bool) -> tuple[bool, bool, bool, bool]:
        """Advance the schedule by one step; returns (asleep, image_end, rest, slot_end) of this
        step: image_end - last presentation step of an image; rest - a rest step (input gate
        closed, awake); slot_end - last wake step of the image's slot."""
        if self.asleep:
            self.used += 1
            self.since += 1
            # a decay settlement (SleepParams.settles; global steps done: start_step + used) or the
            # episode's end, which the on-chip form does not settle: both report a status
            self.settle_now = self.sleep_params.settles(self.used, self.planned, self.start_step + self.used)
            self.block_end = self.settle_now or self.used == self.planned
            return True, False, False, False
        image_end = rest = slot_end = False
        if self.spi > 0:
            k = self.wake_t % self.slot
            image_end, rest, slot_end = k == self.spi - 1, k >= self.spi, k == self.slot - 1
        self.wake_t += 1
        if sleep_on and self.sleeping_enabled and self.wake_t % self.period == 0:
            self.n_episodes += 1
            self.planned = self.sleep_params.episode_length(self.n_episodes)
            self.trigger = self.planned > 0
        return False, image_end, rest, slot_end

    def start_on_demand(self, planned: int, t: int) -> None:
        """Fall asleep now, before global step ``t`` (its spiking phase), for an on-demand episode
        of ``planned`` > 0 steps (ReferenceSimulator.sleep): run as a scheduled episode, but the
        schedule's episode counter is not advanced. The totals before the episode are not read
        here (weights can be read only in a management phase, after this step's learning): the
        status reports them as NaN and the host fills them in."""
        if self.asleep or planned <= 0:
            raise RuntimeError(f"on-demand sleep of {planned} steps while asleep={self.asleep}")
        self.asleep = True
        self.trigger = False
        self.used = self.since = 0
        self.planned = int(planned)
        self.start_step = int(t)
        self.totals_before = dict.fromkeys(self.plastic, float("nan"))

    def ctrl_vector(self, asleep: bool, learn: bool, record: bool, image_end: bool, rest: bool = False,
                    slot_end: bool = False) -> np.ndarray:
        c = np.zeros(CTRL_SIZE, dtype=np.int32)
        c[CTRL_ASLEEP], c[CTRL_LEARN] = asleep, learn
        c[CTRL_RECORD], c[CTRL_IMAGE_END] = record, image_end
        c[CTRL_REST], c[CTRL_SLOT_END] = rest, slot_end
        return c

    def needs_post(self) -> bool:
        """True when this step needs the management phase (trigger or block end)."""
        return self.trigger or self.block_end

    # -- management phase ----------------------------------------------------
    def end_step(self, t: int, io) -> np.ndarray | None:
        """Management work of global step ``t``; returns a status vector at block ends.

        ``io`` gives access to the managed magnitudes: ``read(name) -> m``,
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
            if self.settle_now:
                m, mask = self.settle(n, m, t + 1, self.sleep_params.decay_steps(self.since))
                io.write(n, m)
                if not np.array_equal(mask, self.masks[n]):
                    self.masks[n] = mask
                    io.write_mask(n, mask)
            current[n] = m
        io.sync()
        if self.settle_now:
            self.since = 0
        woke = False
        if self.used < self.planned:
            tot = [float(current[n].sum()) for n in self.plastic]
            tot0 = [float(self.total0[n]) for n in self.plastic]
            woke = bool(sleep_k.wake_check(tot, tot0, self.tol))
        over = woke or self.used == self.planned
        n_w = len(self.plastic)
        status = np.zeros(status_size(n_w), dtype=np.float64)
        status[STATUS_OVER], status[STATUS_USED], status[STATUS_WOKE] = over, self.used, woke
        status[STATUS_START] = self.start_step
        after = self._totals(current)
        for i, n in enumerate(self.plastic):
            status[STATUS_TOTALS_BEFORE + i] = self.totals_before[n]
            status[STATUS_TOTALS_BEFORE + n_w + i] = after[n]
        if over:
            self.asleep = False
            self.sleep_steps_total += self.used
        return status

    def settle(self, name: str, m, t_key: int, k_steps: int):
        """Decay block of ``k_steps`` sleep steps on managed matrix ``name``; returns (m, mask).

        Random numbers (``s`` = the matrix's stream offset, a pathway's index for our network):
        fixed - r = uniform_u32(key(seed, DECAY + s, t_key), synapse) >> (32 - decay_frac_bits);
        float with noise - xi = normal_int(two keys) / NORMAL_INT_SD (both through the
        bit-identical uint32 fast paths). ``t_key`` is the oracle's step counter at the block end.
        The draws are made for present synapses only: decay_block uses them elementwise
        and zeroes absent synapses, so their draws never reach a value (0 is used there).
        """
        idx = self.specs[name].stream
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
        return {n: float(np.asarray(m).sum()) for n, m in current.items()}


class _RefPortIO:
    """Reads and writes managed magnitudes through the Process's RefPorts.

    A "signed" matrix (Lava's weights) is read as ``|w|`` on its present synapses; its sign
    is kept from the read (the initial sign where the value is 0) and applied on write.
    """

    def __init__(self, model, specs: list[WeightSpec], fixed: bool):
        self.model = model
        self.fixed = fixed
        self.dtype = np.int32 if fixed else np.float64
        self.index = {s.name: i for i, s in enumerate(specs)}
        self.specs = {s.name: s for s in specs}
        self.sign = {}
        self.written = []

    def read(self, name):
        spec = self.specs[name]
        w = getattr(self.model, f"ref_w_{self.index[name]}").read()
        w = w.astype(np.int64) if self.fixed else np.asarray(w, dtype=np.float64)
        if spec.kind == "magnitude":
            return w
        self.sign[name] = np.where(w > 0, 1, np.where(w < 0, -1, spec.sign0)).astype(w.dtype)
        return np.where(spec.mask, np.abs(w), 0 * w)

    def write(self, name, m):
        spec = self.specs[name]
        port = getattr(self.model, f"ref_w_{self.index[name]}")
        m = np.asarray(m)
        if spec.kind == "signed":
            m = self.sign[name] * m
        port.write(m.astype(self.dtype))
        self.written.append(port)

    def write_mask(self, name, mask):
        if self.specs[name].kind != "magnitude":
            return  # a Lava matrix has no mask Var: pruned synapses are written as 0
        port = getattr(self.model, f"ref_mask_{self.index[name]}")
        port.write(np.asarray(mask).astype(self.dtype))
        self.written.append(port)

    def sync(self):
        """Wait until every write of this phase has been acknowledged (one read each)."""
        for port in self.written:
            port.wait()
        self.written = []


def _patch_sparse_var_ports() -> None:
    """Let RefPorts read and write Lava's scipy-sparse Vars (Sparse, LearningSparse weights).

    Lava 0.10's dense VarPort sends a ``csr_matrix`` Var as its nonzero values into a buffer of
    the dense shape (garbage unless nnz equals the row length) and replaces the Var by the
    dense array a RefPort writes (which breaks the Sparse models). Patched for sparse Vars
    only: a read sends the dense matrix, a write keeps the stored pattern (absent synapses
    stay absent). Every other Var goes through Lava's own code.
    """
    if getattr(PyVarPortVectorDense, "_lava_sleep_sparse", False):
        return
    from lava.magma.core.model.py.ports import VarPortCmd
    from lava.magma.runtime.mgmt_token_enums import enum_equal, enum_to_np

    original = PyVarPortVectorDense.service

    def service(self):
        current = getattr(self._process_model, self.var_name, None)
        if not sps.issparse(current):
            return original(self)
        if self._csp_send_port is None or self._csp_recv_port is None or not self._csp_recv_port.probe():
            return None
        cmd = enum_to_np(self._csp_recv_port.recv().flatten()[0])
        if enum_equal(cmd, VarPortCmd.SET):
            data = self._transformer.transform(self._csp_recv_port.recv(), self._csp_recv_port)
            new = current.tocsr(copy=True)
            coo = new.tocoo()
            new.data = np.asarray(data)[coo.row, coo.col].astype(new.dtype)
            setattr(self._process_model, self.var_name, new)
        elif enum_equal(cmd, VarPortCmd.GET):
            self._csp_send_port.send(current.toarray())
        else:
            raise ValueError(f"Wrong Command Info Received : {cmd}")
        return None

    PyVarPortVectorDense.service = service
    PyVarPortVectorDense._lava_sleep_sparse = True


_patch_sparse_var_ports()


class AbstractSleepControllerModel(PyLoihiProcessModel):
    """Common behaviour of the float and fixed models.

    With a host, it receives one command per run chunk on ``cmd_in`` at the chunk's first
    step and counts the chunk down, so it never blocks on the host inside a chunk; without
    a host, learning and the sleep schedule are always on.
    """

    cmd_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    ctrl_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    status_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    FIXED = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.core = SleepCore(p["sleep"], p["seed"], p["specs"], self.FIXED,
                              steps_per_image=p["steps_per_image"], decay_frac_bits=p["decay_frac_bits"],
                              rest_steps=p.get("rest_steps", 0))
        self.io = _RefPortIO(self, p["specs"], self.FIXED)
        self.host = p["host"]
        self.chunk_left = 0
        self.learn, self.record, self.sleep_on = not self.host, False, not self.host

    def run_spk(self):
        if self.host:
            if self.chunk_left == 0:
                self.chunk_left, self.learn, self.record, self.sleep_on, now = receive_command(self.cmd_in)
                if now > 0:
                    self.core.start_on_demand(now, self.time_step - 1)
            self.chunk_left -= 1
        bits = self.core.begin_step(self.sleep_on)
        self.ctrl_out.send(self.core.ctrl_vector(bits[0], self.learn, self.record, *bits[1:]))

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
    """Float model: float64 values through float64 RefPorts."""

    FIXED = False


@implements(proc=SleepController, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySleepControllerModelFixed(AbstractSleepControllerModel):
    """Fixed model: integer weights (8-bit magnitudes) through int32 RefPorts, linear decay."""

    FIXED = True


for _i in range(MAX_WEIGHTS):
    for _kind in ("w", "mask"):
        setattr(PySleepControllerModelFloat, f"ref_{_kind}_{_i}", LavaPyType(PyRefPort.VEC_DENSE, np.float64))
        setattr(PySleepControllerModelFixed, f"ref_{_kind}_{_i}",
                LavaPyType(PyRefPort.VEC_DENSE, np.int32, precision=8 if _kind == "w" else 1))
del _i, _kind
