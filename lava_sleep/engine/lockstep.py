"""Pure torch path of the engine: all members advance together, one step per tick.

Device-generic (CPU or CUDA): the state is (B, ...) tensors, and every tick is a fixed
sequence of batched tensor operations built from the kernels of :mod:`lava_sleep.kernels`
(neuron step, trace STDP, epoch application, block decay) called unchanged on tensors,
so the arithmetic is the oracle's. Members differ in phase: each is awake, asleep or
finished in a tick, and per-member masks (not serial loops) select noise level, input
gate, learning and epoch ends. The schedule of every member (wake steps, episode starts,
decay blocks, early wake-up) is planned on the host in NumPy arrays (a few vector operations
over the members per tick), mirroring ``ReferenceSimulator.run``. The device work is queued
and run in chunks: a chunk's per-member tick vectors travel in one transfer, the pathway
totals of the episode records stay on the device until the call ends, and the host reads
device data only where the model needs it (the early wake-up test at a block end with
``tol > 0``: one read per such block). One wait remains per step on CUDA: ``nonzero``, which
finds the spikes for the event-driven gathers, synchronises the device with the host.

Random numbers: the per-member keys are derived on the device from the step counters
(:func:`lava_sleep.rng.key_from_prefix`, the seed/stream prefix computed once), and all the
per-element draws of a block of ticks (noise, input, trace rounding) come from one hash call
over a concatenated index, bit-identical to the oracle's separate calls.

STDP is event-driven: only the rows of post-synaptic spikes and the columns of pre-synaptic
spikes are gathered, updated and written back (with ``t_epoch = 1``, the default, the epoch
is applied to those synapses at once), so no (B, post, pre) temporary exists per step and the
work scales with the spikes, not with the synapses. The results equal the dense oracle's
element by element (an untouched synapse has ``dm = 0``, and ``clip(m + 0) = m``).

An on-demand sleep episode (``sleep``) is the same loop over no images, with the members that
sleep in phase asleep from the first tick (their planned lengths given) and the others finished.

A member that has finished its images while others still run keeps ticking with input,
learning, epoch ends and decay switched off; its neuron and trace state is restored from
a snapshot taken at its last real step, so the extra ticks leave no trace.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch
import torch._dynamo

from lava_sleep import rng
from lava_sleep.fixed import pathway_drive, rounding_offset
from lava_sleep.kernels import neuron, sleep, stdp
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.reference import NORMALIZE_DRAW, ON_DEMAND_EPISODE

_NEURON_STATE = ("u", "v", "a", "pending")
#: rows of a tick's per-member vector (one column per member), see LockstepImpl._plan_row
(ROW_T, ROW_WAKE_T, ROW_PRESENT, ROW_ASLEEP, ROW_ACTIVE, ROW_IMAGE, ROW_COUNTS, ROW_REC,
 ROW_ACTIVITY, ROW_EPOCH_END) = range(10)
#: queued device work items run at most this many ticks behind the host's plan
CHUNK_TICKS = 256
#: the draws of several ticks are hashed at once, up to this many elements (int64) per call
DRAW_BLOCK_ELEMENTS = 1 << 21
#: programs torch.compile may build for the tick step (per argument pattern); beyond, an error
#: instead of a silent fall-back to eager execution
COMPILE_LIMIT = 64


def compiled_step(fn):
    """``fn`` (:meth:`LockstepImpl._step`) under torch.compile: dynamic shapes (the spike
    counts change every tick), ``nonzero`` traced into the graph (its output size is
    data-dependent), so the element-wise work of a tick fuses into a few generated kernels
    (C++ on the CPU, Triton on CUDA). Beyond COMPILE_LIMIT programs it raises rather than
    fall back to eager execution silently."""
    import torch.fx.experimental._config

    # kernel profiling: each generated C++ kernel is a profiler event (lava-sleep bench counts
    # them as launches); it costs a check per kernel call when no profiler runs
    compiled = torch.compile(fn, dynamic=True, fullgraph=True, options={"cpp.enable_kernel_profile": True})

    def step(*args):
        with torch.fx.experimental._config.patch(use_duck_shape=False), torch._dynamo.config.patch(
                capture_dynamic_output_shape_ops=True, capture_scalar_outputs=True,
                recompile_limit=COMPILE_LIMIT, fail_on_recompile_limit_hit=True):
            return compiled(*args)

    return step


class LockstepImpl:
    """Batched tensor implementation; see the module docstring."""

    name = "torch"

    def __init__(self, sim):
        self.sim = sim
        self.dev, self.dt = sim.device, sim.torch_dtype
        B = sim.batch
        nx, ne, ni = sim.sizes
        self.nx, self.ne, self.ni = nx, ne, ni
        self.pop_size = {"X": nx, "E": ne, "I": ni}
        m0 = sim.members[0]
        self.fc = m0.fc
        self.nc = m0.fc if sim.fixed else m0.nc_float
        self.rules = m0.rules  # identical for all members (only SleepParams may differ)
        self.plastic = tuple(n for n in PATHWAY_NAMES if n in self.rules)
        self.k_plus, self.k_minus = m0.k_plus, m0.k_minus
        self.t_epoch = sim.params0.stdp.t_epoch
        self.normalized = tuple(n for n in self.plastic if sim.params0.network.pathway(n).normalize)
        self.norm = {n: sleep.normalize_consts(sim.params0, n, self.fc) for n in self.normalized}
        self.learn_in_sleep = sim.params0.stdp.learn_in_sleep
        self.a_every = sim.params0.neuron.a_decay_every
        z = self._zeros
        nn = ne + ni
        self.u, self.v, self.a, self.pending = z(B, nn), z(B, nn), z(B, nn), z(B, nn)
        self.x = {p: z(B, n) for p, n in self.pop_size.items()}
        self.y = {p: z(B, self.pop_size[p]) for p in ("E", "I")}
        self.m, self.mask, self.acc = {}, {}, {}
        self.total0, self.row_total0, self.flat = {}, {}, {}
        for name in PATHWAY_NAMES:
            n_post, n_pre = sim.shapes[name]
            self.m[name] = z(B, n_post, n_pre)
            self.mask[name] = torch.zeros((B, n_post, n_pre), dtype=torch.bool, device=self.dev)
            self.flat[name] = torch.arange(n_post * n_pre, dtype=torch.int64,
                                           device=self.dev).reshape(n_post, n_pre)
        for name in self.plastic:
            self.acc[name] = z(B, *sim.shapes[name])
            self.total0[name] = torch.tensor(np.array([mi.total0[name] for mi in sim.members]),
                                             dtype=self.dt, device=self.dev)
            self.row_total0[name] = torch.tensor(np.stack([mi.row_total0[name] for mi in sim.members]),
                                                 dtype=self.dt, device=self.dev)
        self.total0_host = np.array([[float(mi.total0[n]) for n in self.plastic] for mi in sim.members])
        self.counters = np.zeros((B, 4), dtype=np.int64)  # t, wake_t, n_episodes, sleep_steps_total
        self.dirty = np.zeros(B, dtype=bool)  # the oracle's acc_dirty, per member
        self.seeds = np.array(sim.seeds, dtype=np.int64)
        self.trace_slices = stdp.trace_slices(self.pop_size)
        self.barange = torch.arange(B, device=self.dev)
        self.stochastic_traces = self.fc is not None and self.fc.trace_rounding == "stochastic"
        self._prefixes: dict[int, torch.Tensor] = {}
        self._tick_draws()
        self._decay_groups()
        self.compiled = bool(getattr(sim, "compile", False))
        self.compile_auto = bool(getattr(sim, "compile_auto", False))  # compile=None: may fall back
        self.compiled_ticks = self.eager_ticks = 0  # ticks run by the compiled and the eager step
        self._step_compiled = compiled_step(self._step) if self.compiled else None

    def _zeros(self, *shape):
        return torch.zeros(shape, dtype=self.dt, device=self.dev)

    def _tick_draws(self) -> None:
        """The layout of a tick's per-element draws: one hash over the concatenated indices
        of (noise draw 0, noise draw 1, input, [pre-trace rounding, post-trace rounding]),
        each segment with its own key column (stream, draw, counter: t or wake_t)."""
        nx, nn = self.nx, self.ne + self.ni
        segs = [(rng.Stream.NOISE, 0, ROW_T, nn), (rng.Stream.NOISE, 1, ROW_T, nn),
                (rng.Stream.INPUT, 0, ROW_WAKE_T, nx)]
        if self.stochastic_traces:
            segs += [(rng.Stream.TRACE_ROUND, stdp.PRE_TRACES, ROW_T, nx + nn),
                     (rng.Stream.TRACE_ROUND, stdp.POST_TRACES, ROW_T, nn)]
        dev = self.dev
        self.draw_prefix = torch.stack([self._prefix(st) for st, _, _, _ in segs], 1)  # (B, S)
        self.draw_number = torch.tensor([d for _, d, _, _ in segs], dtype=torch.int64, device=dev)
        self.draw_counter = torch.tensor([c for _, _, c, _ in segs], dtype=torch.int64, device=dev)
        lengths = torch.tensor([n for *_, n in segs], dtype=torch.int64, device=dev)
        self.draw_segment = torch.repeat_interleave(torch.arange(len(segs), device=dev), lengths)
        self.draw_index = torch.cat([torch.arange(n, dtype=torch.int64, device=dev) for *_, n in segs])
        self.draw_offsets = np.concatenate([[0], np.cumsum([n for *_, n in segs])]).tolist()
        # the keys of the fixed stochastic rounding of the weight updates, per plastic pathway
        self.dw_prefix = None
        if self.fc is not None and self.fc.dw_rounding == "stochastic" and self.plastic:
            self.dw_prefix = torch.stack([self._prefix(rng.Stream.STDP_ROUND + PATHWAY_NAMES.index(n))
                                          for n in self.plastic], 1)  # (B, P)

    def _decay_groups(self) -> None:
        """Members whose decay constants are equal (float static targets aside, which travel
        as a tensor per member) share a group number, ``decay_group[b]``; a block end decays
        each group present with one batched call."""
        groups: dict = {}
        self.decay_group = np.zeros(len(self.seeds), dtype=np.int64)
        for b, mi in enumerate(self.sim.members):
            sig = []
            for name in self.plastic:
                dc = mi.decay[name]
                if self.fc is None or dc.target != "static":
                    dc = dataclasses.replace(dc, static_target=0.0)
                sig.append(dc)
            self.decay_group[b] = groups.setdefault(tuple(sig), len(groups))
        self.static_target = {
            name: torch.tensor([mi.decay[name].static_target for mi in self.sim.members], dtype=self.dt,
                               device=self.dev) if self.fc is None else None
            for name in self.plastic}

    def _prefix(self, stream: int) -> torch.Tensor:
        """rng.key_prefix of every member's seed for ``stream`` (B,), on the device (cached)."""
        if stream not in self._prefixes:
            self._prefixes[stream] = torch.from_numpy(rng.key_prefix(self.seeds, stream)).to(self.dev)
        return self._prefixes[stream]

    def _keys(self, stream: int, counters: torch.Tensor, members=None, draw: int = 0) -> torch.Tensor:
        """Keys rng.key(seed_b, stream, counters[b], draw) on the device, for every member or for
        the ``members`` (a device index tensor) with one counter each."""
        prefix = self._prefix(stream)
        return rng.key_from_prefix(prefix if members is None else prefix[members], counters, draw)

    # -- state --------------------------------------------------------------------------------
    def state_dict(self, b: int) -> dict[str, np.ndarray]:
        d = {k: getattr(self, k)[b].cpu().numpy().copy() for k in _NEURON_STATE}
        d["counters"] = self.counters[b].copy()
        for p, x in self.x.items():
            d[f"x_{p}"] = x[b].cpu().numpy().copy()
        for p, y in self.y.items():
            d[f"y_{p}"] = y[b].cpu().numpy().copy()
        for name in PATHWAY_NAMES:
            d[f"m_{name}"] = self.m[name][b].cpu().numpy().copy()
            d[f"mask_{name}"] = self.mask[name][b].cpu().numpy().copy()
        for name in self.plastic:
            d[f"acc_{name}"] = self.acc[name][b].cpu().numpy().copy()
        return d

    def load_state_dict(self, b: int, d) -> None:
        def put(dst, arr, dtype=None):
            dst.copy_(torch.as_tensor(np.asarray(arr), dtype=dtype or self.dt))

        for k in _NEURON_STATE:
            put(getattr(self, k)[b], d[k])
        self.counters[b] = np.asarray(d["counters"], dtype=np.int64)
        for p in self.x:
            put(self.x[p][b], d[f"x_{p}"])
        for p in self.y:
            put(self.y[p][b], d[f"y_{p}"])
        for name in PATHWAY_NAMES:
            put(self.m[name][b], d[f"m_{name}"])
            put(self.mask[name][b], d[f"mask_{name}"], torch.bool)
        for name in self.plastic:
            put(self.acc[name][b], d[f"acc_{name}"])
        self.dirty[b] = any(bool(np.any(np.asarray(d[f"acc_{n}"]))) for n in self.plastic)

    def magnitudes(self, b: int, name: str) -> np.ndarray:
        return self.m[name][b].cpu().numpy()

    def mask_of(self, b: int, name: str) -> np.ndarray:
        return self.mask[name][b].cpu().numpy().copy()

    def _totals(self, it: torch.Tensor) -> torch.Tensor:
        """Pathway totals (len(it), 4) of the members ``it`` (device index tensor), in
        PATHWAY_NAMES order, on the device in the state dtype."""
        return torch.stack([self.m[n][it].sum((-2, -1)) for n in PATHWAY_NAMES], 1)

    # -- one tick -----------------------------------------------------------------------------
    def _columns(self, s) -> dict:
        """Per pathway, the synapses of this step's pre-synaptic spikes: (member index, pre index,
        weights (K, post)), gathered once for the drive and the STDP column pass."""
        nz = {p: s[p].nonzero(as_tuple=True) for p in self.pop_size}
        cols = {}
        for name in PATHWAY_NAMES:
            bj, jj = nz[name[0]]
            cols[name] = (bj, jj, self.m[name][bj, :, jj])
        return cols

    def _propagate(self, cols) -> torch.Tensor:
        """Drive of the next step: per pathway the sum of the spiking columns (fixed: exact
        integer sums, then the pathway shift; float: the same sum in another order than the
        oracle's matrix product, equal up to the last bits)."""
        B = len(self.seeds)

        def drive(name):
            bj, _, m_c = cols[name]
            out = torch.zeros((B, m_c.shape[1]), dtype=self.dt, device=self.dev).index_add_(0, bj, m_c)
            return out if self.fc is None else pathway_drive(out, self.fc.pathways[name])

        d_e = drive("XE") + drive("EE") - drive("IE")
        return torch.cat([d_e, drive("EI")], 1)

    def _draws(self, rows: torch.Tensor) -> torch.Tensor:
        """The per-element 32-bit draws (T, B, N) of the ticks ``rows`` ((T, F, B) device
        vectors): keys from the step counters, then one hash over the concatenated indices;
        followed (fixed stochastic rounding of the updates) by the P keys of the epoch's
        rounding per plastic pathway, (T, B, N + P)."""
        ctr = rows[:, self.draw_counter, :].transpose(1, 2)  # (T, B, S)
        keys = rng.key_from_prefix(self.draw_prefix, ctr, self.draw_number)
        h = rng.hash_index(keys[..., self.draw_segment], self.draw_index)
        if self.dw_prefix is None:
            return h
        epoch = (rows[:, ROW_T, :] // self.t_epoch)[..., None]  # (T, B, 1)
        return torch.cat([h, rng.key_from_prefix(self.dw_prefix, epoch)], -1)

    def _tick(self, plan, r, h, thr_t, counts, activity, rec):
        """Advance every member one step. ``plan`` holds this tick's host arrays (for decisions
        taken on the host), ``r`` the same per-member vectors on the device (rows ROW_*), ``h``
        the tick's draws (:meth:`_draws`).

        ``activity``: (X, N) int64 tensors (3 B, nx) and (3 B, ne + ni); member b adds its
        spikes to row 3 b + (0 awake, 1 asleep, 2 finished: discarded).

        The tensor work of a tick is :meth:`_step`. With ``compiled`` set, ticks that apply
        their epoch at once (t_epoch = 1, the default) run its torch.compile'd form, called
        with the general arguments (the noise level and adaptation decay selected per member
        on the device, learning always traced and masked per member), so that one compiled
        program serves every tick; the others run it eagerly with the host's shortcuts.
        """
        asleep, decay_a = plan["asleep"], plan["decay_a"]
        at_once = plan["at_once"]
        if self.compiled and at_once:
            step, noise_mode, learning, decay_a = self._step_compiled, None, True, None
            self.compiled_ticks += 1
        else:
            self.eager_ticks += 1
            step, learning = self._step, bool(plan["active"].any())
            noise_mode = True if asleep.all() else False if not asleep.any() else None
            decay_a = bool(decay_a[0]) if (decay_a == decay_a[0]).all() else \
                torch.from_numpy(decay_a).to(self.dev)[:, None]
        state = (self.u, self.v, self.a, self.pending, self.x, self.y)
        try:
            (self.u, self.v, self.a, self.pending, self.x, self.y, sx, s_n) = step(
                state, r, h, thr_t, counts, activity[0], activity[1], noise_mode, decay_a, plan["adapt"],
                learning, at_once)
        except (torch._dynamo.exc.TorchDynamoException, torch._dynamo.exc.FailOnRecompileLimitHit) as exc:
            # torch.compile failed before the step ran (nothing has changed): where the caller left
            # the choice to the engine (compile=None on CUDA), warn once and run eagerly from now on
            if step is not self._step_compiled or not self.compile_auto:
                raise
            warnings.warn(f"lava_sleep engine: torch.compile failed ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); the torch path "
                          "runs eagerly (TorchSimulator(compile=False) skips the attempt)", RuntimeWarning,
                          stacklevel=2)
            self.compiled = self.sim.compile = False
            self.compiled_ticks -= 1
            return self._tick(plan, r, h, thr_t, counts, activity, rec)
        if not at_once and plan["epoch_end"].any():
            self._epoch_end(plan, r)
        if plan["block_end"].any():
            self._decay(plan, r)
        if rec is not None:
            rec["X"][self.barange, r[ROW_REC]] = sx
            rec["N"][self.barange, r[ROW_REC]] = s_n
            rec["asleep"][self.barange, r[ROW_REC]] = r[ROW_ASLEEP].bool()

    def _step(self, state, r, h, thr_t, counts, act_x, act_n, noise_mode, decay_a, adapt: bool,
              learning: bool, at_once: bool):
        """The tensor work of a tick (:meth:`_tick`) as a function of tensors and constants:
        noise, neuron step, input spikes, propagation, trace STDP (applied to the touched
        synapses at once when ``at_once``, else accumulated), traces, spike counts. Weights
        change in place; the neuron and trace state is returned, with the spikes
        ``(u, v, a, pending, x, y, sx, s_n)``.

        ``noise_mode``: True (all members asleep), False (all awake) or None (per member, from
        ``r``); ``decay_a``: a bool for every member, a (B, 1) tensor, or None (from the step
        counters in ``r``, on the device: no transfer per tick); ``learning``: whether
        any member learns (learning is masked per member by ``r[ROW_ACTIVE]`` either way)."""
        u, v, a, pending, x, y = state
        present_t, asleep_t, active_t = r[ROW_PRESENT].bool(), r[ROW_ASLEEP].bool(), r[ROW_ACTIVE].bool()
        off = self.draw_offsets
        seg = [h[:, off[i]: off[i + 1]] for i in range(len(off) - 1)]
        z = rng.normal_from_u32(seg[0], seg[1])
        if noise_mode is None:
            noise = torch.where(asleep_t[:, None], neuron.noise_from_int(z, self.nc, True, self.dt),
                                neuron.noise_from_int(z, self.nc, False, self.dt))
        else:
            noise = neuron.noise_from_int(z, self.nc, noise_mode, self.dt)
        if decay_a is None:
            decay_a = neuron.adaptation_decays(r[ROW_T], self.a_every)[:, None]
        u, v, a, s_n = neuron.neuron_step(u, v, a, pending, noise, self.nc, decay_a, adapt)
        rows = thr_t[r[ROW_IMAGE]] if thr_t.ndim == 2 else thr_t[self.barange, r[ROW_IMAGE]]
        sx = (seg[2] < rows) & present_t[:, None]  # rng.bernoulli on the input draws
        s = {"X": sx, "E": s_n[:, : self.ne], "I": s_n[:, self.ne:]}
        cols = self._columns(s)
        pending = self._propagate(cols)  # weights before this step's learning
        x, y = self._learn(s, x, y, cols, active_t, learning, seg[3:], h[:, off[-1]:] if at_once else None)
        counts.index_add_(0, r[ROW_COUNTS], s["E"].to(torch.int64))
        act_x.index_add_(0, r[ROW_ACTIVITY], sx.to(torch.int64))
        act_n.index_add_(0, r[ROW_ACTIVITY], s_n.to(torch.int64))
        return u, v, a, pending, x, y, sx, s_n

    def _learn(self, s, x, y, cols, active_t, learning: bool, trace_draws, dw_keys):
        """ReferenceSimulator._learn for every member, learning masked per member; returns the
        new traces (x, y). The epoch end of ``t_epoch > 1`` is :meth:`_epoch_end`.

        ``trace_draws``: the (pre, post) 32-bit draws of the stochastic trace rounding (empty
        for the other rounding modes); ``dw_keys``: (B, P) keys of this epoch's stochastic
        rounding of the updates per plastic pathway when the epoch is applied at once (else
        None: the updates accumulate).
        """
        fc = self.fc
        rx = ry = {}
        if fc is not None and not self.stochastic_traces:  # one offset for every trace
            off = rounding_offset(fc.trace_rounding, stdp.TRACE_DECAY_BITS)
            rx = dict.fromkeys(x, off)
            ry = dict.fromkeys(y, off)
        elif fc is not None:  # stdp.trace_rounding of the network-wide draws, split by population
            pre, post = (d >> (32 - stdp.TRACE_DECAY_BITS) for d in trace_draws)
            rx = {p: pre[:, sl] for p, sl in self.trace_slices["x"].items()}
            ry = {p: post[:, sl] for p, sl in self.trace_slices["y"].items()}
        xd = {p: stdp.trace_step(v, self.k_plus, fc, rx.get(p)) for p, v in x.items()}
        yd = {p: stdp.trace_step(v, self.k_minus, fc, ry.get(p)) for p, v in y.items()}
        if learning:
            self._stdp_events(s, cols, xd, yd, active_t, dw_keys)
        return ({p: stdp.trace_add(xd[p], s[p].to(self.dt), fc) for p in xd},
                {p: stdp.trace_add(yd[p], s[p].to(self.dt), fc) for p in yd})

    def _epoch_end(self, plan, r) -> None:
        """stdp.apply_epoch of the accumulated updates for the members whose epoch ends now
        (t_epoch > 1, or an accumulator left over from load_state_dict)."""
        ends = plan["epoch_end"]
        gate = None if ends.all() else r[ROW_EPOCH_END].bool()[:, None, None]
        for name in self.plastic:
            new = stdp.apply_epoch(self.rules[name], self.m[name], self.acc[name], self.mask[name],
                                   *self._dw_rounding(name, r))
            if gate is None:
                self.m[name] = new
                self.acc[name].zero_()
            else:
                self.m[name] = torch.where(gate, new, self.m[name])
                self.acc[name] = torch.where(gate, torch.zeros_like(new), self.acc[name])

    def _dw_rounding(self, name, r):
        """(r, bits) of stdp.apply_epoch on all synapses of pathway ``name`` (every member)."""
        fc = self.fc
        if fc is None:
            return None, 0
        bits = fc.dw_frac_bits

        def draws():
            k = self._keys(rng.Stream.STDP_ROUND + PATHWAY_NAMES.index(name), r[ROW_T] // self.t_epoch)
            return rng.uniform_u32(k[:, None, None], self.flat[name]) >> (32 - bits)

        return rounding_offset(fc.dw_rounding, bits, draws), bits

    def _stdp_events(self, s, cols, xd, yd, active_t, apply_keys):
        """stdp.stdp_delta of every plastic pathway on the synapses that spikes touch, accumulated.

        Columns of pre-synaptic spikes (``cols``, gathered by :meth:`_columns`) get the
        depression on the rows without a post spike; rows of post-synaptic spikes get
        potentiation plus the depression of the pre spikes of the same step (the oracle's
        ``pot + dep`` per synapse). Every other synapse has dm = 0, and so has every synapse of
        a member that does not learn. With ``apply_keys`` (the rounding keys of
        :meth:`_apply_events`; given when t_epoch = 1 and no accumulator is left over) the epoch
        is applied at once to the touched synapses,
        columns first: on a synapse in both sets the column's update is the identity, and the
        rows, gathered after it, see the weights before this step."""
        touched = {}
        for name in self.plastic:
            rule, m, mask = self.rules[name], self.m[name], self.mask[name]
            post = name[1]
            bj, jj, m_c = cols[name]
            mask_c = mask[bj, :, jj]  # (K', post)
            dep_c = stdp.depression(rule, m_c, yd[post][bj])
            dm_c = torch.where(s[post][bj] | ~mask_c | ~active_t[bj][:, None], 0 * dep_c, dep_c)
            if apply_keys is None:
                self.acc[name][bj, :, jj] = self.acc[name][bj, :, jj] + dm_c
            else:
                touched[name] = (bj, jj, m_c, dm_c, mask_c)
        if apply_keys is not None:
            self._apply_events(touched, apply_keys, columns=True)
        touched, rows = {}, {}
        for name in self.plastic:
            rule, m, mask = self.rules[name], self.m[name], self.mask[name]
            pre, post = name[0], name[1]
            if post not in rows:  # the learning post spikes and their traces, once per population
                bi, ii = (s[post] & active_t[:, None]).nonzero(as_tuple=True)
                rows[post] = bi, ii, yd[post][bi, ii][:, None]
            bi, ii, y_r = rows[post]
            m_r, mask_r = m[bi, ii], mask[bi, ii]  # (K, pre)
            pot = stdp.potentiation(rule, m_r, xd[pre][bi])
            dep = stdp.depression(rule, m_r, y_r)
            dm_r = pot + torch.where(s[pre][bi], dep, 0 * dep)
            dm_r = torch.where(mask_r, dm_r, 0 * dm_r)
            if apply_keys is None:
                self.acc[name][bi, ii] = self.acc[name][bi, ii] + dm_r
            else:
                touched[name] = (bi, ii, m_r, dm_r, mask_r)
        if apply_keys is not None:
            self._apply_events(touched, apply_keys, columns=False)

    def _apply_events(self, touched, keys, columns: bool) -> None:
        """stdp.apply_epoch on the gathered synapses of every pathway in ``touched`` ({name:
        (member index, column or row index, weights, dm, mask)}) and the write-back; fixed-point
        stochastic rounding draws for all of them from one hash (``keys``: (B, P), per member
        and plastic pathway)."""
        fc = self.fc
        offsets, bits = dict.fromkeys(touched), 0
        if fc is not None:
            bits = fc.dw_frac_bits
            if fc.dw_rounding != "stochastic":
                offsets = dict.fromkeys(touched, rounding_offset(fc.dw_rounding, bits))
            elif touched:
                per_synapse, index = [], []
                for name, (b, j, _, _, _) in touched.items():
                    k = keys[:, self.plastic.index(name)]
                    flat = self.flat[name][:, j].T if columns else self.flat[name][j]
                    per_synapse.append(k[b][:, None].expand_as(flat).reshape(-1))
                    index.append(flat.reshape(-1))
                u = rng.uniform_u32(torch.cat(per_synapse), torch.cat(index)) >> (32 - bits)
                parts = u.split([len(i) for i in index])
                offsets = {name: part.view_as(g[2])
                           for (name, g), part in zip(touched.items(), parts, strict=True)}
        for name, (b, j, m_g, dm, mask_g) in touched.items():
            new = stdp.apply_epoch(self.rules[name], m_g, dm, mask_g, offsets[name], bits)
            if columns:
                self.m[name][b, :, j] = new
            else:
                self.m[name][b, j] = new

    def _decay(self, plan, r):
        """Block decay (ReferenceSimulator._decay) for the members whose decay block ends now.

        Members are grouped by (decay constants, K) (:meth:`_decay_groups`) and each group is
        decayed with one batched call of kernels.sleep.decay_block; float static targets travel
        as a (G, 1, 1) tensor.
        """
        members = self.sim.members
        ending = np.flatnonzero(plan["block_end"])
        # group by (decay constants, K): one integer key per member, no per-member Python work
        key = self.decay_group[ending] * (int(plan["k"].max()) + 1) + plan["k"][ending]
        t1 = r[ROW_T] + 1  # the decay is keyed by the step count after this step
        for u in np.unique(key):
            idx = ending[key == u]
            k_steps = int(plan["k"][idx[0]])
            it = torch.as_tensor(idx, device=self.dev)
            for p_idx, name in enumerate(PATHWAY_NAMES):
                if name not in self.plastic:
                    continue
                dc = members[idx[0]].decay[name]
                if self.fc is None and dc.target == "static":
                    dc = dataclasses.replace(dc, static_target=self.static_target[name][it][:, None, None])
                xi = rr = None
                stream = rng.Stream.DECAY + p_idx
                m = self.m[name][it]
                mask = self.mask[name][it]
                if self.fc is not None:
                    k = self._keys(stream, t1[it], it)
                    rr = self._at_synapses(name, mask, lambda g, flat, k=k, dc=dc:
                                           rng.uniform_u32(k[g], flat) >> (32 - dc.decay_frac_bits))
                elif dc.noise > 0:
                    k1, k2 = (self._keys(stream, t1[it], it, d) for d in (0, 1))
                    xi = self._at_synapses(name, mask, lambda g, flat, k1=k1, k2=k2:
                                           rng.normal_int(k1[g], k2[g], flat).to(self.dt) / rng.NORMAL_INT_SD)
                new = sleep.decay_block(dc, m, mask, self.total0[name][it], self.row_total0[name][it],
                                        k_steps, xi=xi, r=rr)
                new, new_mask = sleep.floor_and_prune(dc, new, mask)
                self.m[name][it] = new
                self.mask[name][it] = new_mask

    def _at_synapses(self, name, mask, draws) -> torch.Tensor:
        """Per-synapse draws of pathway ``name`` for the members of ``mask`` (G, post, pre):
        ``draws(g, flat)`` (g: the member's row in the group, flat: the synapse's flat index,
        the oracle's draw index) at the existing synapses, 0 elsewhere. The decay and the
        normalization mask their results, so what absent synapses draw never matters and is
        not computed (10-15 % of the paper network's plastic entries exist)."""
        g, i, j = mask.nonzero(as_tuple=True)
        out = torch.zeros(mask.shape, dtype=self.dt, device=self.dev)
        out[g, i, j] = draws(g, self.flat[name][i, j])
        return out

    def _normalize(self, members, t) -> None:
        """Per-image normalization (ReferenceSimulator._normalize) of ``members``, keyed by
        their step counters ``t`` (already advanced past the slot's last step)."""
        it = torch.as_tensor(members, device=self.dev)
        t = torch.as_tensor(t, device=self.dev)
        for p_idx, name in enumerate(PATHWAY_NAMES):
            if name not in self.normalized:
                continue
            dc = self.norm[name]
            r = None
            mask = self.mask[name][it]
            if self.fc is not None:
                k = self._keys(rng.Stream.DECAY + p_idx, t, it, NORMALIZE_DRAW)
                r = self._at_synapses(name, mask, lambda g, flat, k=k, dc=dc:
                                      rng.uniform_u32(k[g], flat) >> (32 - dc.decay_frac_bits))
            self.m[name][it] = sleep.decay_block(dc, self.m[name][it], mask, self.total0[name][it],
                                                 self.row_total0[name][it], 1, r=r)

    # -- run ----------------------------------------------------------------------------------
    def run(self, thr: np.ndarray, learn: bool, sleep_on: bool, record: bool, progress):
        return self._loop(thr, learn, sleep_on, record, progress)

    def sleep(self, planned: np.ndarray, learn: bool, record: bool):
        """One on-demand sleep episode of ``planned[b]`` steps per member (0: nothing): the tick
        loop of :meth:`run` over no images, with those members asleep from the first tick."""
        thr = np.zeros((0, self.nx), dtype=np.int64)
        return self._loop(thr, learn, False, record, None, on_demand=np.asarray(planned, dtype=np.int64))

    def _loop(self, thr: np.ndarray, learn: bool, sleep_on: bool, record: bool, progress,
              on_demand: np.ndarray | None = None):
        """The tick loop of a call over the images of ``thr`` ((n, P) or (B, n, P) thresholds).

        ``on_demand``: planned lengths of an on-demand episode per member that starts at the
        first tick (ReferenceSimulator.sleep: episode 0, the schedule's counter unchanged; 0:
        none), for a call without images and schedule.

        The host plans each tick (phases, images, episodes, blocks) and queues the device work
        (:class:`_Queue`); the queue runs when the plan needs device data (an early wake-up
        test), every CHUNK_TICKS ticks and at the end.
        """
        sim, B = self.sim, len(self.seeds)
        members = sim.members
        n = thr.shape[-2]
        spi = sim.params0.input.steps_per_image
        slot = sim.params0.input.slot_steps
        a_every = sim.params0.neuron.a_decay_every
        adapt = neuron.adaptation_runs(learn, sim.params0.neuron.freeze_adaptation)
        if n == 0:  # no image to index: one all-zero row (input gated anyway)
            thr = np.zeros((1, self.nx), dtype=np.int64)
        if self.compiled and thr.shape[-2] == 1:  # the compiled step specialises on one image:
            thr = np.concatenate([thr, thr], -2)  # a second row (never indexed) keeps one program
        thr_t = torch.from_numpy(np.ascontiguousarray(thr, dtype=np.int64)).to(self.dev)
        sp = [mi.params.sleep for mi in members]
        sleeping = np.array([sleep_on and s.fraction > 0 for s in sp])
        period = np.array([s.period for s in sp], dtype=np.int64)
        block = np.array([s.block for s in sp], dtype=np.int64)
        onchip = np.array([s.site == "onchip" for s in sp])  # SleepParams.settles / decay_steps
        tol = np.array([s.tol for s in sp])
        phase = np.full(B, 0 if n > 0 else 2)  # 0 awake, 1 asleep, 2 finished
        img = np.zeros(B, dtype=np.int64)
        in_img = np.zeros(B, dtype=np.int64)
        used = np.zeros(B, dtype=np.int64)
        since = np.zeros(B, dtype=np.int64)
        planned = np.zeros(B, dtype=np.int64)
        steps = np.zeros(B, dtype=np.int64)
        sleep_steps = np.zeros(B, dtype=np.int64)
        episodes = [[] for _ in range(B)]
        open_ep: dict[int, dict] = {}
        # E spike counts of each member's current image (row B: discarded), streamed to the host
        # per finished image (the device memory does not grow with the images of a call)
        counts = torch.zeros((B + 1, self.ne), dtype=torch.int64, device=self.dev)
        counts_np = np.zeros((B, n, self.ne), dtype=np.int64)
        # spike totals per neuron, rows (awake, asleep, finished) per member, on the device
        activity = tuple(torch.zeros((B * 3, w), dtype=torch.int64, device=self.dev)
                         for w in (self.nx, self.ne + self.ni))
        queue = _Queue(self)
        if on_demand is not None:
            for b in np.flatnonzero(on_demand > 0):
                self._fall_asleep(b, int(on_demand[b]), ON_DEMAND_EPISODE, phase, used, since, planned,
                                  open_ep)
            queue.totals(list(open_ep), [(open_ep[b], "totals_before") for b in open_ep])
        rec, cap = None, 0
        if record:
            cap = int(max(self._record_bound(b, n * slot, sleeping[b]) + int(planned[b]) for b in range(B)))
            rec = {k: torch.zeros((B, cap + 1, w), dtype=torch.bool, device=self.dev)
                   for k, w in (("X", self.nx), ("N", self.ne + self.ni))}
            rec["asleep"] = torch.zeros((B, cap + 1), dtype=torch.bool, device=self.dev)
        # members that do nothing in this call tick along: their state is restored at the end
        snapshots: dict[int, list] = {}
        if (phase != 2).any():
            for b in np.flatnonzero(phase == 2):
                queue.snapshot(int(b), snapshots)
        done_images = 0
        member_rows = np.arange(B)
        while (phase != 2).any():
            live = phase != 2
            awake, asleep = phase == 0, phase == 1
            t = self.counters[:, 0]
            active = live & learn & (awake | (asleep & self.learn_in_sleep))
            block_end = asleep & np.where(onchip, (t + 1) % block == 0,
                                          ((used + 1) % block == 0) | (used + 1 == planned))
            present = awake & (in_img < spi)
            epoch_end = live & ((t + 1) % self.t_epoch == 0) & (self.dirty | active)
            plan = {"asleep": asleep, "active": active, "decay_a": neuron.adaptation_decays(t, a_every),
                    "adapt": adapt, "epoch_end": epoch_end, "block_end": block_end,
                    "k": np.where(onchip, block, since + 1),
                    # t_epoch = 1 and no accumulator left over: every active member's epoch ends
                    # now with only this step's events in it (applied to their synapses at once)
                    "at_once": self.t_epoch == 1 and not self.dirty.any()}
            row = np.stack([
                t, self.counters[:, 1], present, asleep, active, np.minimum(img, n - 1) if n else img,
                np.where(present, member_rows, B),  # counts row (B: discarded)
                np.where(live, steps, cap),  # position in the spike record (cap: discarded)
                np.where(awake, 0, np.where(asleep, 1, 2)) + member_rows * 3,  # activity row
                epoch_end,
            ]).astype(np.int64)
            queue.tick(plan, row, (thr_t, counts, activity, rec))
            self.dirty = (self.dirty | active) & ~epoch_end
            self.counters[live, 0] += 1
            steps[live] += 1
            # wake members: advance the data stream, maybe fall asleep
            self.counters[awake, 1] += 1
            in_img[awake] += 1
            img_done = awake & (in_img == slot)
            if img_done.any():
                done = np.flatnonzero(img_done)
                queue.counts(counts, done, img[done].copy(), counts_np)
                if learn and self.normalized:
                    queue.normalize(done, self.counters[done, 0].copy())
            img[img_done] += 1
            in_img[img_done] = 0
            trigger = awake & sleeping & (self.counters[:, 1] % period == 0)
            for b in np.flatnonzero(trigger):
                self.counters[b, 2] += 1
                length = sp[b].episode_length(int(self.counters[b, 2]))
                if length > 0:
                    self._fall_asleep(b, length, int(self.counters[b, 2]), phase, used, since, planned,
                                      open_ep)
            starting = [b for b in np.flatnonzero(trigger) if phase[b] == 1]
            if starting:
                queue.totals(starting, [(open_ep[b], "totals_before") for b in starting])
            # sleeping members: count, settle blocks, wake up
            used[asleep] += 1
            since[asleep] += 1
            sleep_steps[asleep] += 1
            since[block_end] = 0
            ending = asleep & (used == planned)
            check = np.flatnonzero(block_end & (used < planned) & (tol > 0))
            if check.size and self.plastic:
                tot = queue.read_totals(check)  # the one place the host waits for the device
                cols = [PATHWAY_NAMES.index(n_) for n_ in self.plastic]
                for tv in np.unique(tol[check]):  # members with the same tolerance at once
                    sel = tol[check] == tv
                    woke = check[sel][sleep.wake_check([tot[sel, c] for c in cols],
                                                       list(self.total0_host[check[sel]].T), float(tv))]
                    ending[woke] = True
                    for b in woke:
                        open_ep[b]["woke_early"] = True
            ended = np.flatnonzero(ending)
            if ended.size:
                for b in ended:
                    e = open_ep.pop(b)
                    self.counters[b, 3] += used[b]
                    e.update(wake_step=int(self.counters[b, 1]), planned=int(planned[b]), used=int(used[b]))
                    episodes[b].append(e)
                    phase[b] = 0
                queue.totals(ended, [(episodes[b][-1], "totals_after") for b in ended])
            finished = live & (phase == 0) & (img >= n)
            for b in np.flatnonzero(finished):
                phase[b] = 2
                queue.snapshot(int(b), snapshots)
            if queue.ticks >= CHUNK_TICKS:
                queue.run()
            if progress is not None and int(img.sum()) != done_images:
                done_images = int(img.sum())
                progress(done_images)
        queue.run()
        targets = [getattr(self, k) for k in _NEURON_STATE] + list(self.x.values()) + list(self.y.values())
        for b, saved in snapshots.items():
            for dst, src in zip(targets, saved, strict=True):
                dst[b] = src
        queue.fill_totals()
        activity_np = torch.cat(activity, 1).reshape(B, 3, -1)[:, :2].cpu().numpy()
        spikes = None
        if record:
            spikes = []
            for b in range(B):
                nb = int(steps[b])
                nn = rec["N"][b, :nb].cpu().numpy()
                spikes.append({"X": rec["X"][b, :nb].cpu().numpy(), "E": nn[:, : self.ne],
                               "I": nn[:, self.ne:], "asleep": rec["asleep"][b, :nb].cpu().numpy()})
        return counts_np, episodes, spikes, steps, sleep_steps, activity_np

    def _snapshot(self, b) -> list:
        """Copies of member b's neuron and trace state (what ticks after its end would change)."""
        return [getattr(self, k)[b].clone() for k in _NEURON_STATE] \
            + [x[b].clone() for x in self.x.values()] + [y[b].clone() for y in self.y.values()]

    def _fall_asleep(self, b, length, episode, phase, used, since, planned, open_ep) -> None:
        """Member b starts an episode of ``length`` planned steps after its current step."""
        phase[b], used[b], since[b], planned[b] = 1, 0, 0, length
        open_ep[b] = {"episode": episode, "start_step": int(self.counters[b, 0]), "wake_step": None,
                      "planned": length, "used": None, "woke_early": False, "totals_before": None,
                      "totals_after": None}  # the episode record, completed when it ends

    def _record_bound(self, b: int, n_wake: int, sleeping: bool) -> int:
        """Upper bound of member b's steps in a call with n_wake wake steps (sleep included)."""
        sp = self.sim.members[b].params.sleep
        if not sleeping:
            return n_wake
        w0, ep0 = int(self.counters[b, 1]), int(self.counters[b, 2])
        k = (w0 + n_wake) // sp.period - w0 // sp.period
        return n_wake + sum(sp.episode_length(ep0 + i) for i in range(1, k + 1))


class _Queue:
    """Device work of a call, in the order the host planned it, run in chunks.

    Items: a tick (host plan, per-member vector), a normalization, a snapshot of a member's
    neuron and trace state, the pathway totals of an episode record, the spike counts of
    finished images. A chunk's tick vectors go to the device in one transfer (its draws are
    hashed a block of ticks at a time), its finished images' counts come back in one transfer,
    and the totals stay on the device until :meth:`fill_totals` reads them all at once.
    """

    def __init__(self, impl: LockstepImpl):
        self.impl = impl
        self.items: list = []
        self.rows: list[np.ndarray] = []
        self.ticks = 0
        self.totals_pending: list = []  # (device tensor (k, 4), [(record dict, key), ...])
        self.counts_pending: list = []  # (device rows, member indices, image indices, host array)

    def tick(self, plan, row, args) -> None:
        self.items.append(("tick", plan, len(self.rows), args))
        self.rows.append(row)
        self.ticks += 1

    def counts(self, counts, members, images, into: np.ndarray) -> None:
        """Move the finished images' counts (rows ``members`` of the device buffer ``counts``)
        into ``into[members, images]`` (host), and zero those rows."""
        self.items.append(("counts", counts, members, images, into))

    def normalize(self, members, t) -> None:
        self.items.append(("normalize", members, t))

    def snapshot(self, b: int, into: dict) -> None:
        self.items.append(("snapshot", b, into))

    def totals(self, members, targets) -> None:
        """Pathway totals of ``members`` (at this point of the plan) into ``targets``: one
        (record dict, key) per member, filled by :meth:`fill_totals`."""
        self.items.append(("totals", list(members), targets))

    def read_totals(self, members) -> np.ndarray:
        """Run the queue, then the totals (len(members), 4) as float64 on the host."""
        self.run()
        it = torch.as_tensor(np.asarray(members), device=self.impl.dev)
        return self.impl._totals(it).cpu().numpy().astype(np.float64)

    def run(self) -> None:
        impl = self.impl
        if self.rows:
            rows = torch.from_numpy(np.stack(self.rows))
            rows = rows.pin_memory().to(impl.dev, non_blocking=True) if impl.dev.type == "cuda" else rows
            per_block = max(1, DRAW_BLOCK_ELEMENTS // (rows.shape[2] * len(impl.draw_index)))
        h, h0 = None, 0
        for item in self.items:
            kind = item[0]
            if kind == "tick":
                _, plan, i, args = item
                if h is None or i - h0 >= len(h):
                    block = rows[i: i + per_block]
                    if impl.compiled and len(block) < per_block:  # every block the same shape: the
                        # compiled step sees the same (T, B, N) base of its draws (no recompile)
                        block = torch.cat([block, block[-1:].expand(per_block - len(block), -1, -1)])
                    h, h0 = impl._draws(block), i
                impl._tick(plan, rows[i], h[i - h0], *args)
            elif kind == "counts":
                _, buf, members, images, into = item
                it = torch.as_tensor(members, device=impl.dev)
                self.counts_pending.append((buf[it], members, images, into))
                buf[it] = 0
            elif kind == "normalize":
                impl._normalize(item[1], item[2])
            elif kind == "snapshot":
                item[2][item[1]] = impl._snapshot(item[1])
            elif kind == "totals":
                it = torch.as_tensor(item[1], device=impl.dev)
                self.totals_pending.append((impl._totals(it), item[2]))
        self.items, self.rows, self.ticks = [], [], 0
        if self.counts_pending:  # one transfer for the chunk's finished images
            values = torch.cat([c for c, *_ in self.counts_pending]).cpu().numpy()
            i = 0
            for _, members, images, into in self.counts_pending:
                into[members, images] = values[i: i + len(members)]
                i += len(members)
            self.counts_pending = []

    def fill_totals(self) -> None:
        """Write every queued total into its record (one device read for the call)."""
        if not self.totals_pending:
            return
        values = torch.cat([t for t, _ in self.totals_pending]).cpu().numpy().astype(np.float64)
        i = 0
        for _, targets in self.totals_pending:
            for record, key in targets:
                record[key] = dict(zip(PATHWAY_NAMES, map(float, values[i]), strict=True))
                i += 1
        self.totals_pending = []
