"""ProcessModels of the Loihi-native E/I network (tags ``floating_pt``, ``fixed_pt``).

:class:`LoihiEINetworkModel` builds the RingBuffer sources (input raster, sleep pulse, noise),
two LIF populations (:class:`SleepGatedLIF` where a plastic pathway ends, else Lava's ``LIF``)
and four pathways (``LearningSparse`` with :class:`LoihiSleepSTDP` where plastic and learning,
else ``Sparse``) from :func:`native_constants`. On Lava's CPU simulator the children run Lava's
own models (``PyLifModelFloat`` / ``PyLifModelBitAcc``, ``PySparseModelFloat`` /
``PySparseModelBitAcc``, ``PyLearningSparseModelFloat`` / ``PyLearningSparseModelBitApproximate``)
and the two models of :class:`SleepGatedLIF` below; with lava-loihi and ``Loihi2HwCfg`` the same
Processes are compiled for Loihi 2 (SleepGatedLIF then needs a Loihi 2 neuron model of its own:
lava-loihi's learning LIF with the third factor as y2).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.neuron import LearningNeuronModelFixed, LearningNeuronModelFloat
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer
from lava.proc.lif.models import AbstractPyLifModelFixed, AbstractPyLifModelFloat
from lava.proc.lif.process import LIF
from lava.proc.sparse.models import PyLearningSparseModelBitApproximate, PyLearningSparseModelFloat
from lava.proc.sparse.process import Sparse
from lava.utils.weightutils import SignMode, truncate_weights
from scipy.sparse import csr_matrix

from lava_sleep import rng
from lava_sleep.kernels import stdp
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.processes.loihi_native.process import (
    TRACE_MAX,
    LoihiEINetwork,
    MaskedLearningSparse,
    SleepGatedLIF,
)


@implements(proc=SleepGatedLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySleepGatedLIFFloat(LearningNeuronModelFloat, AbstractPyLifModelFloat):
    """Float: Lava's LIF step, then y1 (decayed, before this step's spike), y2 = pulse * level."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    vth: float = LavaPyType(float, float)

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv()
        pulse = self.a_third_factor_in.recv()
        self.subthr_dynamics(activation_in=a_in)
        s = self.v > self.vth
        self.v[s] = 0
        y_dec = self.y1 * p["y1_keep"]
        self.s_out.send(s.astype(float))
        self.s_out_bap.send(s)
        self.s_out_y1.send(y_dec)
        self.s_out_y2.send(pulse * p["y2_level"])
        self.s_out_y3.send(np.zeros_like(y_dec))
        self.y1 = y_dec + p["y1_impulse"] * s


@implements(proc=SleepGatedLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySleepGatedLIFFixed(LearningNeuronModelFixed, AbstractPyLifModelFixed):
    """Fixed: Lava's bit-accurate LIF step; y1 a 7-bit integer trace decayed with the 12-bit keep
    factor and stochastic rounding (lava_sleep.rng, stream TRACE_ROUND, draw 1, keyed by the
    global step); y2 = pulse * level (integer)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def run_spk(self) -> None:
        p = self.proc_params
        if not self.isbiasscaled:
            self.scale_bias()
        if not self.isthrscaled:
            self.effective_vth = np.left_shift(self.vth, self.vth_shift)
            self.isthrscaled = True
        a_in = self.a_in.recv()
        pulse = self.a_third_factor_in.recv()
        self.subthr_dynamics(activation_in=a_in)
        s = self.v > self.effective_vth
        self.v[s] = 0
        t = p["t0"] + self.time_step - 1
        idx = p["trace_offset"] + np.arange(len(self.y1), dtype=np.int64)
        r = stdp.trace_rounding(rng.key(p["seed"], rng.Stream.TRACE_ROUND, t, stdp.POST_TRACES), idx)
        y_dec = (self.y1.astype(np.int64) * int(p["y1_keep"]) + r) >> stdp.TRACE_DECAY_BITS
        self.s_out.send(s.astype(np.int32))
        self.s_out_bap.send(s)
        self.s_out_y1.send(y_dec.astype(np.int32))
        self.s_out_y2.send((pulse * int(p["y2_level"])).astype(np.int32))
        self.s_out_y3.send(np.zeros_like(y_dec, dtype=np.int32))
        self.y1 = np.minimum(y_dec + int(p["y1_impulse"]) * s, TRACE_MAX).astype(np.int32)


class _DenseFactors:
    """Mixin: dense w and t for the rule's products (see MaskedLearningSparse)."""

    def _saturate_synaptic_variable(self, name, values):
        """Lava's saturation on the stored entries only (its float model compares a csr matrix
        with 0, which scipy refuses); the structure is kept."""
        if not hasattr(values, "toarray"):
            return super()._saturate_synaptic_variable(name, values)
        out = values.copy()
        out.data = np.asarray(super()._saturate_synaptic_variable(name, values.data))
        return out

    def _saturate_synaptic_variable_accumulator(self, name, values):
        """The bit-approximate model's accumulator saturation, on the stored entries only (Lava
        calls ``np.maximum(0, csr)``, which scipy refuses: without this the worker raises and
        the runtime hangs)."""
        if not hasattr(values, "toarray"):
            return super()._saturate_synaptic_variable_accumulator(name, values)
        out = values.copy()
        out.data = np.asarray(super()._saturate_synaptic_variable_accumulator(name, values.data))
        return out

    def _extract_applier_args(self, x_traces_history, y_traces_history):
        args = super()._extract_applier_args(x_traces_history, y_traces_history)
        for k in ("weights", "tag_1", "tag_2"):
            if hasattr(args[k], "toarray"):
                args[k] = args[k].toarray()
        return args


@implements(proc=MaskedLearningSparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyMaskedLearningSparseFloat(_DenseFactors, PyLearningSparseModelFloat):
    """Lava's float LearningSparse model with dense rule factors, weights saturated at the
    pathway's magnitude bound ``w_max`` (process parameter): Lava's float engine only keeps the
    sign, while the model clips to [w_min, w_max] and Loihi's 8-bit weights saturate; without it
    STDP runs the weights away (X->E mean |w| 3.8 after 200 digits at w_max 1)."""

    implements_process = None  # (re-bound by @implements; the parent's is LearningSparse)

    def _saturate_synaptic_variable(self, name, values):
        out = super()._saturate_synaptic_variable(name, values)
        w_max = self.proc_params.get("w_max", None)
        if name != "weights" or w_max is None:
            return out
        data = out.data if hasattr(out, "toarray") else out
        np.clip(data, -w_max, w_max, out=data)
        return out


@implements(proc=MaskedLearningSparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_approximate_loihi", "fixed_pt")
class PyMaskedLearningSparseFixed(_DenseFactors, PyLearningSparseModelBitApproximate):
    """Lava's bit-approximate LearningSparse model with dense rule factors, keeping the structure.

    Lava's model truncates the weights on its first step with ``truncate_weights``, which calls
    ``eliminate_zeros()`` on a csr matrix: every synapse of weight 0 would become absent (it could
    never grow again, and the runtime buffer would no longer hold one entry per synapse of the
    mask). The truncation is done here on the stored entries instead (a no-op in value for
    8-bit excitatory or inhibitory weights).
    """

    implements_process = None

    def run_spk(self):
        if not self.weights_set:
            w = self.weights.copy()
            w.data = truncate_weights(np.asarray(w.data), sign_mode=self.sign_mode,
                                      num_weight_bits=self.proc_params.get("num_weight_bits", 8))
            self.weights = w
            self.weights_set = True
        super().run_spk()


@implements(proc=LoihiEINetwork, protocol=LoihiProtocol)
@tag("floating_pt", "fixed_pt")
class LoihiEINetworkModel(AbstractSubProcessModel):
    """Standard Lava Processes wired as the E/I network, with the on-chip sleep.

    Sources: the input raster (X), the decay pulse (one RingBuffer per learning population,
    into its ``a_third_factor_in``) and the noise (one RingBuffer per population, into ``a_in``).
    Sinks record the E and I spikes of every step.
    """

    def __init__(self, proc: LoihiEINetwork):
        p = proc.proc_params
        params, c, st, learn = p["params"], p["consts"], p["state"], p["learn"]
        fixed = p["mode"] == "fixed"
        init = p["init"]
        steps = p["input_spikes"].shape[1]
        sizes = params.sizes()
        self.source = RingBuffer(data=p["input_spikes"].astype(float))
        lif_args = {"du": c.du, "dv": c.dv, "vth": c.vth, "bias_mant": c.bias}
        pops = {}
        nx = sizes["X"]
        for pop in ("E", "I"):
            args = dict(lif_args, u=st[f"u_{pop}"], v=st[f"v_{pop}"])
            if learn and pop in c.post:
                pt = c.post[pop]
                pops[pop] = SleepGatedLIF(shape=(sizes[pop],), y1_keep=pt.keep, y1_impulse=pt.impulse,
                                          y2_level=c.y2_level, seed=p["seed"], t0=p["t0"],
                                          trace_offset=0 if pop == "E" else sizes["E"],
                                          y1=st[f"y1_{pop}"], **args)
                gate = RingBuffer(data=np.tile(p["decay_pulse"], (sizes[pop], 1)))
                gate.s_out.connect(pops[pop].a_third_factor_in)
                setattr(self, f"gate_{pop}", gate)
            else:
                pops[pop] = LIF(shape=(sizes[pop],), **args)
            if p["noise"] is not None:
                src = RingBuffer(data=p["noise"][pop])
                src.s_out.connect(pops[pop].a_in)
                setattr(self, f"noise_{pop}", src)
        del nx
        self.exc, self.inh = pops["E"], pops["I"]
        syn = {}
        for n in PATHWAY_NAMES:
            mask = st.get(f"mask_{n}", init.masks[n])
            w = np.where(mask, st[f"w_{n}"], 0)
            sign = SignMode.EXCITATORY if params.network.pathway(n).sign > 0 else SignMode.INHIBITORY
            w = w.astype(int) if fixed else w.astype(float)
            # explicit entries on every existing synapse (also at weight 0): the structure is the mask
            w = csr_matrix((w[mask], np.nonzero(mask)), shape=w.shape)
            kwargs = {"weights": w, "weight_exp": c.weight_exp[n],
                      "num_weight_bits": 8, "sign_mode": sign}
            if learn and n in c.rules:
                tag = csr_matrix((c.tags[n][init.masks[n]], np.nonzero(init.masks[n])), shape=w.shape)
                w_max = None if fixed else float(params.network.pathway(n).w_max)
                syn[n] = MaskedLearningSparse(learning_rule=c.rules[n], tag_1=tag, w_max=w_max, **kwargs)
                syn[n].x1.init = st[f"x1_{n}"]
            else:
                syn[n] = Sparse(**kwargs)
            syn[n].a_buff.init = st[f"abuf_{n}"]
            setattr(self, n.lower(), syn[n])
        pop = {"X": self.source, **pops}
        for n in PATHWAY_NAMES:
            pop[n[0]].s_out.connect(syn[n].s_in)
            syn[n].a_out.connect(pop[n[1]].a_in)
            if isinstance(syn[n], MaskedLearningSparse):
                post = pop[n[1]]
                post.s_out_bap.connect(syn[n].s_in_bap)
                post.s_out_y1.connect(syn[n].s_in_y1)
                post.s_out_y2.connect(syn[n].s_in_y2)
                post.s_out_y3.connect(syn[n].s_in_y3)
                getattr(proc, f"x1_{n}").alias(syn[n].x1)
            getattr(proc, f"w_{n}").alias(syn[n].weights)
            getattr(proc, f"abuf_{n}").alias(syn[n].a_buff)
        for name, lif in pops.items():
            getattr(proc, f"u_{name}").alias(lif.u)
            getattr(proc, f"v_{name}").alias(lif.v)
            if isinstance(lif, SleepGatedLIF):
                getattr(proc, f"y1_{name}").alias(lif.y1)
            sink = SinkBuffer(shape=(sizes[name],), buffer=steps)
            lif.s_out.connect(sink.a_in)
            setattr(self, f"sink_{name}", sink)
            getattr(proc, f"spikes_{name}").alias(sink.data)
