"""ProcessModels of the plastic dense synapse (``floating_pt`` and ``fixed_pt``).

:class:`SynapseCore` is the NumPy propagation and event-driven STDP of one
pathway, shared with the fused network model. Its learning methods take a
*state holder* ``st`` with attributes ``weights``, ``mask``, ``acc``, ``rows`` and
``cols`` (the ProcessModel itself in the graph model, a small namespace per
pathway in the fused model) and update it in place.

Event-driven but exact: for each synapse the oracle (lava_sleep.reference)
adds ``dm = where(s_post, pot, 0) + where(s_pre, dep, 0)`` to the accumulator.
Here rows of spiking post neurons get ``pot`` (``pot + dep`` in spiking
columns) and the remaining rows get ``dep`` in spiking columns; every other
synapse would add an exact zero. The epoch application touches only the rows
and columns touched during the epoch; untouched synapses have ``acc = 0`` and
(fixed) ``(0 + r) >> F = 0``, so they are unchanged in the oracle too, and the
stochastic-rounding draws are only needed (and identical) where used.

Fixed point: magnitudes are int32 Vars (w_bits-bit values; int32 so that the
controller's RefPort moves them unchanged), accumulators int64 in
2**-dw_frac_bits LSB, traces int64 holding trace_bits-bit values (saturating at
``FixedConstants.trace_max``); the drive is int32 in u units, ``((m @ s) * w_mult) >> 8``
(:func:`lava_sleep.fixed.pathway_drive`; w_scale "pow2": ``m @ s << shift``). The trace decay and
the update application round per ``FixedParams.trace_rounding`` / ``dw_rounding``
(:func:`lava_sleep.fixed.rounding_offset`): the stochastic modes take the oracle's per-value
draws, the deterministic modes a constant offset and no draws.
"""

from __future__ import annotations

import math

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep import rng
from lava_sleep.fixed import pathway_drive, quantize_weights, rounding_offset, to_fixed
from lava_sleep.kernels import sleep as sleep_k
from lava_sleep.kernels import stdp as stdp_k
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.processes.plastic_dense.process import PlasticDense
from lava_sleep.processes.sleep_controller.process import CTRL_ASLEEP, CTRL_LEARN, CTRL_SLOT_END
from lava_sleep.reference import NORMALIZE_DRAW


def limit_blas_threads() -> None:
    """Use one BLAS thread in this Lava worker process.

    Lava runs every ProcessModel in its own OS process; a multi-threaded BLAS
    matrix-vector product per step oversubscribes the cores and runs about 20x
    slower on a loaded 2-core machine than a single-threaded one (measured).
    Needs threadpoolctl (installed with scikit-learn); without it, nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(limits=1, user_api="blas")


class KeyCache:
    """Keys of one (seed, stream, draw) for consecutive counters, computed ``block`` at a time."""

    def __init__(self, seed: int, stream: int, draw: int = 0, block: int = 64):
        self.seed, self.stream, self.draw, self.block = int(seed), int(stream), draw, block
        self.c0 = -1
        self.keys = np.zeros(0, dtype=np.int64)

    def __call__(self, counter: int) -> int:
        if not self.c0 <= counter < self.c0 + self.keys.size:
            self.keys = rng.key_array(self.seed, self.stream, np.arange(counter, counter + self.block),
                                  self.draw)
            self.c0 = counter
        return int(self.keys[counter - self.c0])


class SynapseCore:
    """Constants and NumPy step functions of one pathway.

    Args:
        params: ModelParams. name: pathway name. seed: run seed.
        fixed: integer model (lava_sleep.fixed constants) or float64.
    """

    def __init__(self, params, name: str, seed: int, fixed: bool):
        pw = params.network.pathway(name)
        self.name = name
        self.index = PATHWAY_NAMES.index(name)
        self.sign = pw.sign
        self.plastic = pw.plastic
        self.seed = int(seed)
        self.fixed = fixed
        self.fc = to_fixed(params) if fixed else None
        self.dtype = np.int64 if fixed else np.float64
        self.pf = self.fc.pathways[name] if fixed else None  # w_mult of the drive
        self.rule = stdp_k.stdp_rule(params, name, self.fc)
        self.t_epoch = params.stdp.t_epoch
        self.learn_in_sleep = params.stdp.learn_in_sleep
        self.dw_frac_bits = self.fc.dw_frac_bits if fixed else 0
        self.trace_round_mode = self.fc.trace_rounding if fixed else None
        self.dw_round_mode = self.fc.dw_rounding if fixed else None
        if fixed:
            self.k_plus, self.k_minus = self.fc.k_plus, self.fc.k_minus
        else:
            self.k_plus = float(np.exp(-params.neuron.dt / params.stdp.tau_plus))
            self.k_minus = float(np.exp(-params.neuron.dt / params.stdp.tau_minus))
        self.shape = None
        self.flat = None
        self.round_keys = KeyCache(seed, rng.Stream.STDP_ROUND + self.index)
        # fixed trace decay: stochastic rounding (trace_rounding "stochastic") keyed by step,
        # indexed network-wide
        offsets = stdp_k.trace_offsets(params.sizes())
        self.trace_offset = (offsets["x"][pw.pre], offsets["y"][pw.post])
        self.trace_keys = (KeyCache(seed, rng.Stream.TRACE_ROUND, stdp_k.PRE_TRACES),
                           KeyCache(seed, rng.Stream.TRACE_ROUND, stdp_k.POST_TRACES))
        self._trace_idx = {}
        self._csc_mask = None  # mask object that self._csc was built from
        self._csc = []
        # per-image normalization (docs/model.md): one full-strength linear neuron-target decay
        # block towards the initial row totals (set by initial_state)
        self.normalize_on = pw.plastic and pw.normalize
        self.norm = sleep_k.normalize_consts(params, name, self.fc) if self.normalize_on else None
        self.total0 = self.row_total0 = None

    # -- setup ---------------------------------------------------------------
    def initial_state(self, weights, mask):
        """Initial (weights, mask) arrays of the model from float magnitudes and a mask."""
        mask = np.asarray(mask, dtype=bool)
        weights = np.asarray(weights, dtype=np.float64)
        self.shape = mask.shape
        self.flat = np.arange(math.prod(self.shape), dtype=np.int64).reshape(self.shape)
        if self.fixed:
            m = np.where(mask, quantize_weights(weights, self.fc.pathways[self.name]), 0).astype(np.int64)
            self.total0, self.row_total0 = m.sum(), m.sum(-1)
            return m.astype(np.int32), mask
        m = np.where(mask, weights, 0.0)
        self.total0, self.row_total0 = m.sum(), m.sum(-1)
        return m, mask

    # -- per-image normalization ---------------------------------------------------
    def normalized(self, m, mask, t_key: int) -> np.ndarray:
        """Magnitudes ``m`` (post, pre) after the per-image normalization at step counter
        ``t_key`` (the global step after the image slot's last step), in the model's dtype.

        ``decay_block`` with :func:`~lava_sleep.kernels.sleep.normalize_consts` and the initial
        row totals; fixed rounding draws ``uniform_u32(key(seed, DECAY + P, t_key, 2), synapse)
        >> (32 - decay_frac_bits)`` (:data:`lava_sleep.reference.NORMALIZE_DRAW`).
        """
        dc = self.norm
        r = None
        if self.fixed:
            m = np.asarray(m).astype(np.int64)
            k = rng.key(self.seed, rng.Stream.DECAY + self.index, t_key, NORMALIZE_DRAW)
            r = rng.uniform_u32_np(k, self.flat) >> (32 - dc.decay_frac_bits)
        new = sleep_k.decay_block(dc, m, mask, self.total0, self.row_total0, 1, r=r)
        return new.astype(np.int32) if self.fixed else new

    # -- propagation -----------------------------------------------------------
    def propagate(self, m, s_pre) -> np.ndarray:
        """Signed drive of the next step: ``sign * m @ s`` (fixed: ``(integer sum * w_mult) >> 8``,
        :func:`~lava_sleep.fixed.pathway_drive`, in int64)."""
        if not s_pre.any():
            return np.zeros(m.shape[0], dtype=self.dtype)
        if self.fixed:
            idx = np.flatnonzero(s_pre)
            d = pathway_drive(m[:, idx].sum(axis=1, dtype=np.int64), self.pf)
        else:
            d = m @ s_pre.astype(np.float64)
        return -d if self.sign < 0 else d

    # -- traces ----------------------------------------------------------------
    def decay_pre(self, x, t: int, offset: int | None = None):
        """Pre traces after the decay of step ``t``; ``offset``: index of ``x[0]`` among all pre
        traces (X | E | I; default: this pathway's pre population)."""
        return self._decay_trace(x, self.k_plus, t, stdp_k.PRE_TRACES, offset)

    def decay_post(self, y, t: int, offset: int | None = None):
        """Post traces after the decay of step ``t`` (``offset`` among E | I, default: this
        pathway's post population)."""
        return self._decay_trace(y, self.k_minus, t, stdp_k.POST_TRACES, offset)

    def _decay_trace(self, x, keep, t: int, which: int, offset: int | None):
        r = None
        if self.fixed:
            r = rounding_offset(self.trace_round_mode, stdp_k.TRACE_DECAY_BITS,
                                lambda: self._trace_draws(len(x), t, which, offset))
        return stdp_k.trace_step(x, keep, self.fc, r)

    def _trace_draws(self, n: int, t: int, which: int, offset: int | None) -> np.ndarray:
        """Stochastic trace-rounding draws of step ``t`` for ``n`` traces from ``offset``."""
        off = self.trace_offset[which] if offset is None else offset
        idx = self._trace_idx.get((off, n))
        if idx is None:
            idx = self._trace_idx[(off, n)] = off + np.arange(n, dtype=np.int64)
        return stdp_k.trace_rounding(self.trace_keys[which](t), idx, rng.uniform_u32_np)

    def add_spikes(self, x, s):
        return stdp_k.trace_add(x, s.astype(self.dtype), self.fc)

    def active(self, learn: bool, asleep: bool) -> bool:
        return self.plastic and learn and (not asleep or self.learn_in_sleep)

    # -- learning ------------------------------------------------------------
    def learn(self, st, s_pre, s_post, x_pre, y_post, t: int, active: bool) -> None:
        """STDP of step t: accumulate (if ``active``), then apply at an epoch end.

        ``x_pre``/``y_post`` are the decayed traces (spikes strictly before t). With
        ``t_epoch == 1`` the update is applied directly (no accumulator traffic),
        which gives the same values as accumulate + apply.
        """
        if active and self.t_epoch == 1:
            self._learn_direct(st, s_pre, s_post, x_pre, y_post, t)
            return
        if active:
            self.accumulate(st, s_pre, s_post, x_pre, y_post)
        self.apply_epoch(st, t)

    def _learn_direct(self, st, s_pre, s_post, x_pre, y_post, t: int) -> None:
        """Apply this step's update directly (``t_epoch == 1``), touching only what changes.

        Rows of spiking post neurons are updated densely (``pot``, ``pot + dep`` in
        spiking columns); the spiking columns' other synapses get ``dep`` and are
        visited through the present synapses only (:meth:`_column_synapses`; absent
        synapses hold 0 and stay 0). Float: both parts are gathered from the weights
        before this step and go through one ``apply_epoch``; the column part (over
        every row) is written first and the row part last, so the spiking rows end
        with their exact ``pot + dep`` value.
        """
        rows = s_post.nonzero()[0]
        cols = s_pre.nonzero()[0]
        if not rows.size and not cols.size:
            return
        if self.fixed:
            self._learn_direct_fixed(st, rows, cols, s_pre, s_post, x_pre, y_post, t)
            return
        rule, w = self.rule, st.weights
        k, gidx, i_c, m = self._gather(st, rows, cols)
        dms = []
        if rows.size:
            m_r = m[:k].reshape(rows.size, -1)
            dm_r = stdp_k.potentiation(rule, m_r, x_pre[None, :])
            if cols.size:
                dm_r[:, cols] += stdp_k.depression(rule, m_r[:, cols], y_post[rows][:, None])
            dms.append(dm_r.ravel())
        if cols.size:
            dms.append(stdp_k.depression(rule, m[k:], y_post.take(i_c)))
        dm = np.concatenate(dms) if len(dms) > 1 else dms[0]
        new = stdp_k.apply_epoch(rule, m, dm, st.mask.take(gidx))
        if cols.size:
            np.put(w, gidx[k:], new[k:])
        if rows.size:
            np.put(w, gidx[:k], new[:k])

    def _gather(self, st, rows, cols):
        """Synapses touched this step: the spiking rows (all columns) first, then the present
        synapses of the spiking columns. Returns ``(k, gidx, i_c, m)``: the length of the row
        part, flat indices, post indices of the column part (None without spiking columns)
        and the weights before the update."""
        k = rows.size * st.weights.shape[1]
        parts = [self.flat[rows].ravel()] if rows.size else []
        i_c = None
        if cols.size:
            f_c, i_c = self._column_synapses(st.mask, cols)
            parts.append(f_c)
        gidx = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return k, gidx, i_c, st.weights.take(gidx)

    def _column_synapses(self, mask, cols) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices and post (row) indices of the present synapses in columns ``cols``.

        Built once per mask object (the models replace the mask array when it
        changes, never edit it in place), then a concatenation per step.
        """
        if mask is not self._csc_mask:
            n_pre = mask.shape[1]
            c_idx, r_idx = np.nonzero(mask.T)  # column-major order
            bounds = np.searchsorted(c_idx, np.arange(n_pre + 1))
            both = np.stack([r_idx * n_pre + c_idx, r_idx])
            self._csc = [both[:, bounds[j]:bounds[j + 1]] for j in range(n_pre)]
            self._csc_mask = mask
        parts = [self._csc[j] for j in cols.tolist()]
        both = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        return both[0], both[1]

    def _learn_direct_fixed(self, st, rows, cols, s_pre, s_post, x_pre, y_post, t: int) -> None:
        """Fixed-point ``_learn_direct``: draws and updates only where ``dm != 0``.

        A synapse with ``dm = 0`` gets ``(0 + r) >> F = 0`` for every offset ``r`` in
        [0, 2**F) (every draw, and the nearest and floor offsets) and is unchanged
        (docs/model.md: untouched synapses are unchanged), so the rounding hash runs on the
        nonzero set only (paper network: about 6 % of the touched rows and columns, as traces,
        weights and headroom are often 0).
        The spiking columns are visited through their present synapses only, without
        the spiking rows (integer ``dep * ~s_post`` is an exact 0 there; those synapses
        are in the row part). Values and draws are those of the dense oracle. The work
        is a few dozen NumPy calls on a few hundred elements, so the code minimises calls
        (integer ``dep * s_pre`` instead of a column scatter, flat indices by table lookup).
        """
        rule, w, mask = self.rule, st.weights, st.mask
        k, gidx, i_c, m = self._gather(st, rows, cols)
        dms = []
        if rows.size:
            m_r = m[:k].reshape(rows.size, -1)
            dm_r = stdp_k.potentiation(rule, m_r, x_pre[None, :])
            if cols.size:  # integers: dep * s_pre is dep in spiking columns, an exact 0 elsewhere
                dm_r += stdp_k.depression(rule, m_r, y_post[rows][:, None]) * s_pre
            dms.append(dm_r.ravel())
        if cols.size:
            dm_c = stdp_k.depression(rule, m[k:], y_post.take(i_c))
            if rows.size:  # spiking rows belong to the row part
                dm_c *= ~s_post.take(i_c)
            dms.append(dm_c)
        dm = np.concatenate(dms) if len(dms) > 1 else dms[0]
        if rows.size:  # the column part holds present synapses only
            dm[:k] *= mask.take(gidx[:k])
        nz = dm.nonzero()[0]
        if nz.size:
            self._put_rounded(w, gidx.take(nz), dm.take(nz), True, self.round_keys(t), m.take(nz))

    def _put_rounded(self, w, gidx, dm, mask, key, m=None) -> None:
        """``w.flat[gidx] <- apply_epoch(w.flat[gidx], dm)`` with the rounding offsets of
        ``dw_rounding`` (stochastic: the synapses' draws from ``key``; nearest, floor: a constant).

        ``m`` may pass ``w.flat[gidx]`` when the caller has it already.
        """
        r = rounding_offset(self.dw_round_mode, self.dw_frac_bits, lambda: self._dw_draws(key, gidx))
        if m is None:
            m = w.take(gidx)
        np.put(w, gidx, stdp_k.apply_epoch(self.rule, m, dm, mask, r, self.dw_frac_bits))

    def _dw_draws(self, key, gidx) -> np.ndarray:
        """Stochastic update-rounding draws in [0, 2**dw_frac_bits) of synapses ``gidx``."""
        r = rng.uniform_u32_np(key, gidx)
        r >>= 32 - self.dw_frac_bits
        return r

    def accumulate(self, st, s_pre, s_post, x_pre, y_post) -> None:
        """Add this step's dm (decayed traces ``x_pre``, ``y_post``) to ``st.acc``.

        Rows of spiking post neurons get ``pot`` (``pot + dep`` in spiking columns);
        spiking columns get ``dep`` in the other rows (spiking rows add an exact 0).
        """
        rule = self.rule
        rows = np.flatnonzero(s_post)
        cols = np.flatnonzero(s_pre)
        if rows.size:
            m_r = st.weights[rows]
            dm = stdp_k.potentiation(rule, m_r, x_pre[None, :])
            if cols.size:
                dm[:, cols] = dm[:, cols] + stdp_k.depression(rule, m_r[:, cols], y_post[rows][:, None])
            st.acc[rows] += np.where(st.mask[rows], dm, 0)
            st.rows[rows] = True
        if cols.size:
            dep = stdp_k.depression(rule, st.weights[:, cols], y_post[:, None])
            keep = st.mask[:, cols]
            if rows.size:
                keep = keep & ~s_post[:, None]
            st.acc[:, cols] += np.where(keep, dep, 0)
            st.cols[cols] = True

    def apply_epoch(self, st, t: int) -> None:
        """At the end of a learning epoch (step t), apply and clear the accumulator.

        Touched rows are applied in full, then touched columns over all rows (rows
        already applied have acc = 0 there and stay unchanged).
        """
        if (t + 1) % self.t_epoch != 0:
            return
        rows = np.flatnonzero(st.rows)
        cols = np.flatnonzero(st.cols)
        if not rows.size and not cols.size:
            return
        key = None
        if self.fixed:
            key = self.round_keys(t // self.t_epoch)
        if rows.size:
            self._apply(st, rows, key)
            st.rows[:] = False
        if cols.size:
            self._apply(st, (slice(None), cols), key)
            st.cols[:] = False

    def _apply(self, st, sel, key) -> None:
        """Apply and clear ``st.acc[sel]`` (fixed: draws only where ``acc != 0``, see above)."""
        acc = st.acc[sel]
        if self.fixed:
            nz = np.flatnonzero(acc != 0)
            if nz.size:
                gidx = self.flat[sel].take(nz)
                self._put_rounded(st.weights, gidx, acc.take(nz), st.mask.take(gidx), key)
        else:
            st.weights[sel] = stdp_k.apply_epoch(self.rule, st.weights[sel], acc, st.mask[sel])
        st.acc[sel] = 0


class AbstractPlasticDenseModel(PyLoihiProcessModel):
    """Shared behaviour of the float and fixed synapse models (types in subclasses)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, bool, precision=1)
    s_in_bap: PyInPort = LavaPyType(PyInPort.VEC_DENSE, bool, precision=1)
    ctrl_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    FIXED = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.core = SynapseCore(p["params"], p["pathway"], p["seed"], self.FIXED)
        self.t0 = int(p["t0"])
        limit_blas_threads()
        self.ready = False

    def _setup(self):
        p = self.proc_params
        self.weights, self.mask = self.core.initial_state(p["weights"], p["mask"])
        self.acc = np.zeros(self.mask.shape, dtype=self.core.dtype)
        self.x_pre = np.zeros(self.mask.shape[1], dtype=self.core.dtype)
        self.y_post = np.zeros(self.mask.shape[0], dtype=self.core.dtype)
        self.rows = np.zeros(self.mask.shape[0], dtype=bool)
        self.cols = np.zeros(self.mask.shape[1], dtype=bool)
        self.ready = True

    def run_spk(self):
        if not self.ready:
            self._setup()
        elif self.mask.dtype != bool:  # written by the controller through a RefPort
            self.mask = self.mask.astype(bool)
        self.a_out.send(self.a_buff)
        s_pre = self.s_in.recv()
        core = self.core
        self.a_buff = core.propagate(self.weights, s_pre)
        if not core.plastic:
            return
        s_post = self.s_in_bap.recv()
        ctrl = self.ctrl_in.recv()
        t = self.t0 + self.time_step - 1
        x = core.decay_pre(self.x_pre, t)
        y = core.decay_post(self.y_post, t)
        core.learn(self, s_pre, s_post, x, y, t, core.active(bool(ctrl[CTRL_LEARN]), bool(ctrl[CTRL_ASLEEP])))
        self.x_pre = core.add_spikes(x, s_pre)
        self.y_post = core.add_spikes(y, s_post)
        if core.normalize_on and ctrl[CTRL_SLOT_END] and ctrl[CTRL_LEARN]:
            # after the slot's last step (step counter t + 1), before the controller's management
            # phase (a sleep episode triggered at this wake step reads the normalized weights)
            self.weights = core.normalized(self.weights, self.mask, t + 1)


@implements(proc=PlasticDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyPlasticDenseModelFloat(AbstractPlasticDenseModel):
    """Float64 plastic dense synapse."""

    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.float64)
    weights: np.ndarray = LavaPyType(np.ndarray, np.float64)
    mask: np.ndarray = LavaPyType(np.ndarray, np.float64, precision=1)
    acc: np.ndarray = LavaPyType(np.ndarray, np.float64)
    x_pre: np.ndarray = LavaPyType(np.ndarray, np.float64)
    y_post: np.ndarray = LavaPyType(np.ndarray, np.float64)
    a_buff: np.ndarray = LavaPyType(np.ndarray, np.float64)
    FIXED = False


@implements(proc=PlasticDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPlasticDenseModelFixed(AbstractPlasticDenseModel):
    """Fixed-point plastic dense synapse: w_bits-bit magnitudes, int32 drive, integer traces."""

    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    mask: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=40)
    x_pre: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    y_post: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
    a_buff: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    FIXED = True
