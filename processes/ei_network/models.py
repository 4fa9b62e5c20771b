"""ProcessModels of the E/I network: a SubProcessModel (graph) and fused models.

Graph (:class:`EINetworkGraphModel`, tags ``floating_pt`` and ``fixed_pt``):
builds the encoder, the two populations, the four pathways and the controller
as sub-Processes and connects them; every sub-Process then runs its own model
with the tag of the run config. Selected with ``select_sub_proc_model=True``.

Fused (:class:`PyEINetworkFusedFloat` / :class:`PyEINetworkFusedFixed`): one
PyAsyncProcessModel (AsyncProtocol) that computes every step in one process,
either with the same NumPy cores as the graph (LifCore, SynapseCore, EncoderCore,
SleepCore) in the graph's message order (``fused_kernel="numpy"``), or with the
compiled kernel of lava_sleep.kernels.native (``"native"``): one C call per step
(``ls_step``: steps 3-5 below plus the input spikes) and one per decay block and
pathway (``ls_decay``), while SleepCore keeps the schedule, EncoderCore turns
images into thresholds and the model does all host messaging. Selected with
``select_sub_proc_model=False`` and the tag.

1. controller: read the host command at a chunk start, advance the schedule;
2. encoder: gated input spikes of the wake step (none asleep or on rest steps);
3. neurons: integrate the drive computed at step t-1 (E: XE + EE + IE, summed in
   that order as Lava's InPort does; I: EI), noise of step t;
4. pathways: drive for step t+1 from this step's spikes and the weights before
   learning;
5. STDP: population traces decay, accumulate, take the spikes; epoch apply;
   after an image slot's last wake step, while learning, per-image normalization of the
   pathways with ``normalize`` (the graph's PlasticDense does it at the end of its step);
6. controller management work (trigger bookkeeping, block decay, early
   wake-up) - the graph model does this in the management phase, which follows
   the spiking phase of the same step, so the order is the same.

Population traces are kept once per population (the graph keeps one copy per
plastic synapse; the values are identical).

The compiled step covers rest steps (a zero threshold row and no count row), the slow
adaptation decay (the kernel reads ``a_decay_every`` and its own step counter), the frozen
adaptation of ``freeze_adaptation`` (the kernel reads the call's learn flag) and the per-image
normalization (run in NumPy on the kernel's weights, between two ``ls_step`` calls);
:func:`resolve_fused_kernel` checks that the kernel takes the network's constants (e.g. its
STDP rules) and otherwise picks the NumPy step
("auto") or refuses ("native").
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyAsyncProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.async_protocol import AsyncProtocol
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep.fixed import to_fixed
from lava_sleep.kernels import native as native_k
from lava_sleep.kernels import stdp as stdp_k
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.processes.ei_network.process import (
    HOST_PORTS,
    PIPE_SIZES,
    TRACES,
    EINetwork,
    trace_sources,
)
from lava_sleep.processes.input_encoder.models import EncoderCore
from lava_sleep.processes.input_encoder.process import GatedEncoder
from lava_sleep.processes.lif_adaptive.models import LifCore
from lava_sleep.processes.lif_adaptive.process import AdaptiveLIF
from lava_sleep.processes.plastic_dense.models import SynapseCore, limit_blas_threads
from lava_sleep.processes.plastic_dense.process import PlasticDense
from lava_sleep.processes.sleep_controller.models import SleepCore, receive_command
from lava_sleep.processes.sleep_controller.process import SleepController
from lava_sleep.reference import ReferenceSimulator

_SYN_ATTR = {"XE": "xe", "EE": "ee", "EI": "ei", "IE": "ie"}


def native_step_unsupported(params, seed: int, init, fixed: bool) -> str | None:
    """Why the compiled kernel cannot run this network (one line), or None when it can.

    Tries to load the network's constants into a :class:`~lava_sleep.kernels.native.NativeNetwork`
    (as the fused model does), which refuses what the kernel has no code for (e.g. an STDP rule
    it does not know). Needs the kernel to be buildable (``native.resolve_step``).
    """
    ref = ReferenceSimulator(params, seed, mode="fixed" if fixed else "float", init=init)
    try:
        native_k.NativeNetwork(native_k.MemberConsts.from_reference(ref), "fixed" if fixed else "float64")
    except (KeyError, ValueError) as exc:
        rules = ", ".join(f"{n} {params.network.pathway(n).rule}" for n in params.network.plastic_pathways)
        return (f"it cannot run these params (plastic rules: {rules}; {type(exc).__name__}: {exc}); "
                "fused_kernel='numpy' runs them ('auto' picks it)")
    return None


def resolve_fused_kernel(kernel: str, params, seed: int, init, fixed: bool) -> str:
    """The fused model's step for ``kernel`` ("auto", "native", "numpy"): "native" when the
    compiled kernel can be built and runs these params, else "numpy"; an explicit "native"
    that cannot raises :class:`~lava_sleep.kernels.native.NativeBuildError` (one line)."""
    resolved = native_k.resolve_step(kernel, "fixed" if fixed else "float64")
    if resolved == "native":
        why = native_step_unsupported(params, seed, init, fixed)
        if why is not None:
            if kernel == "native":
                raise native_k.NativeBuildError(why)
            return "numpy"
    return resolved


@implements(proc=EINetwork, protocol=LoihiProtocol)
@tag("floating_pt", "fixed_pt")
class EINetworkGraphModel(AbstractSubProcessModel):
    """The network as a graph of sub-Processes (one Lava process each)."""

    def __init__(self, proc: EINetwork):
        p = proc.proc_params
        params, seed, init = p["params"], p["seed"], p["init"]
        n_e = params.network.n_exc
        self.encoder = GatedEncoder(params=params, seed=seed)
        self.exc = AdaptiveLIF(shape=(n_e,), params=params, seed=seed, index_offset=0)
        self.inh = AdaptiveLIF(shape=(params.network.n_inh,), params=params, seed=seed,
                               index_offset=n_e)
        for n, attr in _SYN_ATTR.items():
            setattr(self, attr, PlasticDense(pathway=n, params=params, seed=seed,
                                             weights=init.magnitudes[n], mask=init.masks[n]))
        plastic = params.network.plastic_pathways
        syn = {n: getattr(self, a) for n, a in _SYN_ATTR.items()}
        pop = {"X": self.encoder, "E": self.exc, "I": self.inh}
        # the general sleep Process manages the plastic PlasticDense Processes (RefPorts to
        # their weights and masks, connected by the controller)
        self.controller = SleepController(
            weights=[syn[n] for n in plastic], sleep=params.sleep, seed=seed, host=True,
            steps_per_image=params.input.steps_per_image, rest_steps=params.input.rest_steps,
            decay_frac_bits=to_fixed(params).decay_frac_bits)
        # spikes forward (pre) and back-propagated (post, plastic pathways only)
        self.encoder.s_out.connect(syn["XE"].s_in)
        self.exc.s_out.connect([syn["EE"].s_in, syn["EI"].s_in])
        self.inh.s_out.connect(syn["IE"].s_in)
        for n in plastic:
            pop[n[1]].s_out.connect(syn[n].s_in_bap)
            self.controller.ctrl_out.connect(syn[n].ctrl_in)
        # drive: E sums XE, EE, IE in this order (float summation order = the oracle's)
        for n in ("XE", "EE", "IE"):
            syn[n].a_out.connect(self.exc.a_in)
        syn["EI"].a_out.connect(self.inh.a_in)
        self.controller.ctrl_out.connect([self.encoder.ctrl_in, self.exc.ctrl_in, self.inh.ctrl_in])
        # host pipes live on the leaf ports
        for pipe, (child, port) in HOST_PORTS.items():
            getattr(getattr(self, child), port).flag_external_pipe(buffer_size=PIPE_SIZES[pipe])
        # state aliases
        for pname, neurons in (("E", self.exc), ("I", self.inh)):
            for var in ("u", "v", "a"):
                getattr(proc, f"{var}_{pname}").alias(getattr(neurons, var))
        proc.count_E.alias(self.exc.count)
        proc.wake_t.alias(self.encoder.wake_t)
        for n in PATHWAY_NAMES:
            for var, sub in (("w", "weights"), ("mask", "mask"), ("acc", "acc"), ("a_buff", "a_buff")):
                getattr(proc, f"{var}_{n}").alias(getattr(syn[n], sub))
        for tr, (n, var) in trace_sources(params).items():
            getattr(proc, tr).alias(getattr(syn[n], var))


class _FusedIO:
    """SleepCore access to the fused model's magnitudes (no messaging needed)."""

    def __init__(self, syn_state):
        self.syn_state = syn_state

    def read(self, name):
        return self.syn_state[name].weights

    def write(self, name, m):
        st = self.syn_state[name]
        st.weights = np.asarray(m).astype(st.weights.dtype)

    def write_mask(self, name, mask):
        self.syn_state[name].mask = np.array(mask, dtype=bool)  # a new object: SynapseCore caches by identity

    def sync(self):
        pass


class _NativeIO(_FusedIO):
    """SleepCore access to the compiled kernel's magnitudes: reads give contiguous (post, pre)
    copies (the same summation order as the NumPy path); the decay already ran in place."""

    def __init__(self, net):
        self.net = net

    def read(self, name):
        return np.ascontiguousarray(self.net.magnitudes(name))

    def write(self, name, m):
        pass

    def write_mask(self, name, mask):
        pass


class AbstractEINetworkFusedModel(PyAsyncProcessModel):
    """All populations of the network in one Lava process (types in subclasses).

    The model runs on Lava's AsyncProtocol: one ``run(RunSteps(n))`` executes n
    network steps in a loop inside the process, without the runtime's per-step
    phase handshake (a single process has nobody to synchronise with; its only
    peers are the host pipes, which carry their own flow control). Network time
    is the model's own step counter ``t``. State lives in plain arrays during a
    run and is published to the Vars (for ``Var.get``) when the run returns.

    ``proc_params["fused_kernel"]`` picks the step: "numpy" (:meth:`step`, the
    NumPy cores) or "native" (:meth:`step_native`, the compiled kernel); "auto"
    is native when the kernel can be built on this machine.
    """

    img_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    cmd_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    counts_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    status_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    rec_x: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    rec_e: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    rec_i: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    count_E: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)
    wake_t: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=64)
    FIXED = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        params, seed = p["params"], p["seed"]
        self.n_e, self.n_i = params.network.n_exc, params.network.n_inh
        self.plastic = params.network.plastic_pathways
        self.enc = EncoderCore(params, seed)
        self.kernel = resolve_fused_kernel(p.get("fused_kernel", "auto"), params, seed, p["init"],
                                           self.FIXED)
        self.normalized = tuple(n for n in self.plastic if params.network.pathway(n).normalize)
        self.rest_steps = params.input.rest_steps
        if self.kernel == "numpy":
            # one LifCore for E and I together: global neuron indices 0..n_e+n_i-1
            self.lif = LifCore(params, seed, 0, self.n_e + self.n_i, self.FIXED)
            self.syn = {n: SynapseCore(params, n, seed, self.FIXED) for n in PATHWAY_NAMES}
            limit_blas_threads()
        settle = self._native_settle if self.kernel == "native" else None
        self.sleep = SleepCore.for_network(params, seed, p["init"], self.FIXED, settle=settle)
        self.chunk_left = 0
        self.learn = self.record = self.sleep_on = False
        self.ready = False
        self.t = 0

    def _native_mode(self) -> str:
        return "fixed" if self.FIXED else "float64"

    # -- state ------------------------------------------------------------------------------
    def _setup(self):
        parts = stdp_k.trace_slices(self.proc_params["params"].sizes())
        self.x_parts, self.y_parts = parts["x"], parts["y"]
        if self.kernel == "native":
            self._setup_native()
        else:
            self._setup_numpy()
        self.ready = True

    def _setup_numpy(self):
        init = self.proc_params["init"]
        dtype = self.lif.dtype
        self.syn_state = {}
        for n, core in self.syn.items():
            w, mask = core.initial_state(init.magnitudes[n], init.masks[n])
            self.syn_state[n] = SimpleNamespace(
                weights=w, mask=mask, acc=np.zeros(mask.shape, dtype=core.dtype),
                rows=np.zeros(mask.shape[0], dtype=bool), cols=np.zeros(mask.shape[1], dtype=bool))
        n = self.n_e + self.n_i
        self.st = SimpleNamespace(
            u=np.zeros(n, dtype), v=np.zeros(n, dtype), a=np.zeros(n, dtype),
            a_buff={p: np.zeros(self.syn[p].shape[0], dtype) for p in PATHWAY_NAMES},
            # population traces, one array each for pre (X|E|I) and post (E|I) traces
            x=np.zeros(self.enc.n + self.n_e + self.n_i, dtype), y=np.zeros(self.n_e + self.n_i, dtype),
            count=np.zeros(self.n_e, np.int64), wake_t=0, thresholds=np.zeros(self.enc.n, np.int64))
        self.io = _FusedIO(self.syn_state)

    def _setup_native(self):
        """State in a NativeNetwork, initialised from the oracle's initial state; the C call
        structure points at the count row, the current thresholds and one-row spike records."""
        p = self.proc_params
        ref = ReferenceSimulator(p["params"], p["seed"], mode="fixed" if self.FIXED else "float",
                                 init=p["init"])
        net = native_k.NativeNetwork(native_k.MemberConsts.from_reference(ref), self._native_mode(),
                                     keep_drive=True)
        net.load_state_dict(ref.state_dict())
        n = self.n_e + self.n_i
        self.net = net
        self.st = SimpleNamespace(count=np.zeros(self.n_e, np.int64), wake_t=0,
                                  thresholds=np.zeros(self.enc.n, np.int64), x=net.x, y=net.y,
                                  rec_x=np.zeros(self.enc.n, np.uint8), rec_n=np.zeros(n, np.uint8),
                                  rec_asleep=np.zeros(1, np.uint8),
                                  no_input=np.zeros(self.enc.n, np.int64))  # rest steps' thresholds
        st, call = self.st, native_k.CallC()
        call.counts, call.thr = st.count.ctypes.data, st.thresholds.ctypes.data
        self.ptrs = (st.count.ctypes.data, st.thresholds.ctypes.data, st.no_input.ctypes.data)
        call.rec_x, call.rec_n, call.rec_asleep = (a.ctypes.data for a in (st.rec_x, st.rec_n, st.rec_asleep))
        self.call = call
        self.io = _NativeIO(net)
        self.acc_static = {n: np.zeros(net.m[n].shape[::-1], net.dtype)
                           for n in PATHWAY_NAMES if n not in self.plastic}
        # per-image normalization in NumPy (the SynapseCore of the graph's PlasticDense)
        params, seed, init = p["params"], p["seed"], p["init"]
        self.norm_cores = {}
        for name in self.normalized:
            core = self.norm_cores[name] = SynapseCore(params, name, seed, self.FIXED)
            core.initial_state(init.magnitudes[name], init.masks[name])

    def _native_settle(self, name, m, t_key, k_steps):
        """SleepCore.settle on the compiled kernel's state (in place)."""
        if int(self.net.counters[0]) != t_key:
            raise RuntimeError(f"native kernel at step {int(self.net.counters[0])}, decay keyed {t_key}")
        self.net.decay(name, k_steps)
        return np.ascontiguousarray(self.net.magnitudes(name)), self.net.mask_of(name)

    def _publish(self):
        """Expose the state to Var.get (views, no copies)."""
        st, n_e = self.st, self.n_e
        if self.kernel == "native":
            net = self.net
            neurons, drives = net, net.drives()
            syn = {n: (net.magnitudes(n), net.mask[n].T,
                       net.acc[n].T if n in self.plastic else self.acc_static[n]) for n in PATHWAY_NAMES}
        else:
            neurons, drives = st, st.a_buff
            syn = {n: (ss.weights, ss.mask, ss.acc) for n, ss in self.syn_state.items()}
        for var in ("u", "v", "a"):
            arr = getattr(neurons, var)
            setattr(self, f"{var}_E", arr[:n_e])
            setattr(self, f"{var}_I", arr[n_e:])
        self.count_E = st.count
        self.wake_t = np.array([st.wake_t], dtype=np.int64)
        for n, (w, mask, acc) in syn.items():
            setattr(self, f"w_{n}", w)
            setattr(self, f"mask_{n}", mask)
            setattr(self, f"acc_{n}", acc)
            setattr(self, f"a_buff_{n}", drives[n])
        for p, sl in self.x_parts.items():
            setattr(self, f"x_{p}", st.x[sl])
        for p, sl in self.y_parts.items():
            setattr(self, f"y_{p}", st.y[sl])

    # -- running ----------------------------------------------------------------------------
    def run_async(self):
        if not self.ready:
            self._setup()
        step = self.step_native if self.kernel == "native" else self.step
        for _ in range(self.num_steps):
            step()
            self.t += 1
        self._publish()

    def _begin_step(self) -> tuple[bool, bool, bool, bool]:
        """1. Host command at a chunk start, schedule; the image's thresholds at its slot's first
        step. Returns (asleep, image_end, rest, slot_end) (SleepCore.begin_step)."""
        st = self.st
        if self.chunk_left == 0:
            self.chunk_left, self.learn, self.record, self.sleep_on, now = receive_command(self.cmd_in)
            if now > 0:
                self.sleep.start_on_demand(now, self.t)
        self.chunk_left -= 1
        bits = self.sleep.begin_step(self.sleep_on)
        if not bits[0] and self.enc.needs_image(st.wake_t):
            st.thresholds[:] = self.enc.thresholds(self.img_in.recv())
        return bits

    def _normalize(self) -> None:
        """Per-image normalization after the slot's last step (step counter ``t + 1``)."""
        t_key = self.t + 1
        for n in self.normalized:
            if self.kernel == "native":
                m = np.ascontiguousarray(self.net.magnitudes(n))
                self.net.m[n][...] = self.norm_cores[n].normalized(m, self.net.mask_of(n), t_key).T
            else:
                ss = self.syn_state[n]
                ss.weights = self.syn[n].normalized(ss.weights, ss.mask, t_key)

    def _end_step(self, sx, s_n, asleep: bool, image_end: bool, slot_end: bool) -> None:
        """Image-end counts, spike records, per-image normalization and 6. the controller's
        management work (a sleep episode triggered at a slot end follows the normalization)."""
        st = self.st
        if not asleep:
            st.wake_t += 1
            if image_end:
                self.counts_out.send(st.count.astype(np.float64))
                st.count[:] = 0
        if self.record:
            self.rec_x.send(sx)
            self.rec_e.send(s_n[:self.n_e])
            self.rec_i.send(s_n[self.n_e:])
        if slot_end and self.learn and self.normalized:
            self._normalize()
        if self.sleep.needs_post():
            status = self.sleep.end_step(self.t, self.io)
            if status is not None:
                self.status_out.send(status)

    def step(self):
        """One network step at global step ``self.t`` with the NumPy cores (order in the module
        docstring)."""
        st, syn, ss = self.st, self.syn, self.syn_state
        asleep, image_end, rest, slot_end = self._begin_step()
        t = self.t
        # 2. encoder (gate closed asleep and on rest steps)
        if asleep or rest:
            sx = np.zeros(self.enc.n, dtype=bool)
        else:
            sx = self.enc.spikes(st.wake_t, st.thresholds)
        # 3. neurons (drive of step t-1; E sums XE, EE, IE in the InPort's order)
        ab = st.a_buff
        drive = np.concatenate([ab["XE"] + ab["EE"] + ab["IE"], ab["EI"]])
        st.u, st.v, st.a, s_n = self.lif.step(st.u, st.v, st.a, drive, t, asleep, self.learn)
        if not asleep and not rest:  # presentation steps only
            st.count += s_n[:self.n_e]
        # 4. propagation with the weights before learning
        s = {"X": sx, "E": s_n[:self.n_e], "I": s_n[self.n_e:]}
        for n in PATHWAY_NAMES:
            ab[n] = syn[n].propagate(ss[n].weights, s[n[0]])
        # 5. STDP on population traces (decayed: spikes strictly before t)
        core0 = syn["XE"]
        xd = core0.decay_pre(st.x, t, offset=0)  # all pre traces X | E | I
        yd = core0.decay_post(st.y, t, offset=0)  # all post traces E | I
        xp, yp = self.x_parts, self.y_parts
        for n in self.plastic:
            core = syn[n]
            core.learn(ss[n], s[n[0]], s[n[1]], xd[xp[n[0]]], yd[yp[n[1]]], t,
                       core.active(self.learn, asleep))
        st.x = core0.add_spikes(xd, np.concatenate([sx, s_n]))
        st.y = core0.add_spikes(yd, s_n)
        self._end_step(sx, s_n, asleep, image_end, slot_end)

    def step_native(self):
        """One network step at global step ``self.t`` with the compiled kernel: input spikes,
        neurons, propagation and STDP (2.-5.) in one ``ls_step`` call."""
        st, call = self.st, self.call
        asleep, image_end, rest, slot_end = self._begin_step()
        call.learn, call.rec_cap = int(self.learn), int(self.record)
        if self.rest_steps:  # rest step: no input spikes (thresholds 0), no count row
            call.counts = None if rest else self.ptrs[0]
            call.thr = self.ptrs[2] if rest else self.ptrs[1]
        self.net.step(call, asleep)
        if self.record:
            self._end_step(st.rec_x.astype(bool), st.rec_n.astype(bool), asleep, image_end, slot_end)
        else:
            self._end_step(None, None, asleep, image_end, slot_end)


def _fused_state_types(fixed: bool) -> dict:
    """LavaPyType declarations of the fused model's state Vars."""
    if fixed:
        state = LavaPyType(np.ndarray, np.int64, precision=24)
        w = LavaPyType(np.ndarray, np.int64, precision=8)
        mask = LavaPyType(np.ndarray, np.int64, precision=1)
        acc = LavaPyType(np.ndarray, np.int64, precision=40)
        trace = LavaPyType(np.ndarray, np.int64, precision=16)
    else:
        state = w = acc = trace = LavaPyType(np.ndarray, np.float64)
        mask = LavaPyType(np.ndarray, np.float64, precision=1)
    types = {f"{v}_{p}": state for v in ("u", "v", "a") for p in ("E", "I")}
    for n in PATHWAY_NAMES:
        types.update({f"w_{n}": w, f"mask_{n}": mask, f"acc_{n}": acc, f"a_buff_{n}": state})
    types.update({tr: trace for tr in TRACES})
    return types


@implements(proc=EINetwork, protocol=AsyncProtocol)
@requires(CPU)
@tag("floating_pt")
class PyEINetworkFusedFloat(AbstractEINetworkFusedModel):
    """Fused float64 network (one Lava process)."""

    FIXED = False


@implements(proc=EINetwork, protocol=AsyncProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyEINetworkFusedFixed(AbstractEINetworkFusedModel):
    """Fused fixed-point network (one Lava process, integer state)."""

    FIXED = True


for _model in (PyEINetworkFusedFloat, PyEINetworkFusedFixed):
    for _name, _lava_type in _fused_state_types(_model.FIXED).items():
        setattr(_model, _name, _lava_type)
del _model, _name, _lava_type
