"""Pure torch path of the engine: all members advance together, one step per tick.

Device-generic (CPU or CUDA): the state is (B, ...) tensors, and every tick is a fixed
sequence of batched tensor operations built from the kernels of :mod:`lava_sleep.kernels`
(neuron step, trace STDP, epoch application, block decay) called unchanged on tensors,
so the arithmetic is the oracle's. Members differ in phase: each is awake, asleep or
finished in a tick, and per-member masks (not serial loops) select noise level, input
gate, learning and epoch ends. The schedule of every member (wake steps, episode starts,
decay blocks, early wake-up) is kept on the host in NumPy arrays, mirroring
``ReferenceSimulator.run``; the host syncs with the device only at block ends where an
early wake-up is possible and at episode starts/ends (for the recorded totals).

Random numbers: the per-member keys of a tick (noise, input, stochastic rounding, decay)
are hashed on the host with :func:`lava_sleep.rng.key_array` and sent in one transfer; the
per-element draws run on the device with the same rng functions as the oracle.

An on-demand sleep episode (``sleep``) is the same loop over no images, with the members that
sleep in phase asleep from the first tick (their planned lengths given) and the others finished.

A member that has finished its images while others still run keeps ticking with input,
learning, epoch ends and decay switched off; its neuron and trace state is restored from
a snapshot taken at its last real step, so the extra ticks leave no trace.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from lava_sleep import rng
from lava_sleep.fixed import pathway_drive, rounding_offset
from lava_sleep.kernels import neuron, sleep, stdp
from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.reference import NORMALIZE_DRAW, ON_DEMAND_EPISODE

_NEURON_STATE = ("u", "v", "a", "pending")


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
        self.counters = np.zeros((B, 4), dtype=np.int64)  # t, wake_t, n_episodes, sleep_steps_total
        self.dirty = np.zeros(B, dtype=bool)  # the oracle's acc_dirty, per member
        self.seeds = np.array(sim.seeds, dtype=np.int64)
        self.nidx = torch.arange(nn, dtype=torch.int64, device=self.dev)
        self.pidx = torch.arange(nx, dtype=torch.int64, device=self.dev)
        self.trace_slices = stdp.trace_slices(self.pop_size)
        self.trace_index = [torch.arange(n, dtype=torch.int64, device=self.dev)
                            for n in (nx + ne + ni, ne + ni)]  # pre traces X|E|I, post traces E|I
        self.barange = torch.arange(B, device=self.dev)
        # fixed-point propagation on CUDA runs in float64 (no integer matmul there); sums of at
        # most 2**w_bits * n_pre are far below 2**53, so the result is exact.
        self.mv_dtype = torch.float64 if (sim.fixed and self.dev.type == "cuda") else self.dt

    def _zeros(self, *shape):
        return torch.zeros(shape, dtype=self.dt, device=self.dev)

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

    def _totals(self, idx) -> np.ndarray:
        """Pathway totals (len(idx), 4) as float64, in PATHWAY_NAMES order (one device sync)."""
        it = torch.as_tensor(idx, device=self.dev)
        sums = torch.stack([self.m[n][it].sum((-2, -1)) for n in PATHWAY_NAMES], 1)
        return sums.cpu().numpy().astype(np.float64)

    def _keys(self, stream, counters, members=None, draw=0) -> torch.Tensor:
        seeds = self.seeds if members is None else self.seeds[members]
        return torch.from_numpy(rng.key_array(seeds, stream, np.asarray(counters, np.int64), draw))

    # -- one tick -----------------------------------------------------------------------------
    def _propagate(self, s) -> torch.Tensor:
        def mv(name, spikes):
            w = self.m[name] if self.mv_dtype == self.dt else self.m[name].to(self.mv_dtype)
            out = torch.matmul(w, spikes.to(self.mv_dtype).unsqueeze(-1)).squeeze(-1)
            if self.fc is None:
                return out
            return pathway_drive(out.to(torch.int64), self.fc.pathways[name])

        d_e = mv("XE", s["X"]) + mv("EE", s["E"]) - mv("IE", s["I"])
        return torch.cat([d_e, mv("EI", s["E"])], 1)

    def _tick(self, plan, thr_t, n_images, counts, activity, rec):
        """Advance every member one step; ``plan`` holds this tick's per-member host arrays.

        ``activity``: (X, N) int64 tensors (3 B, nx) and (3 B, ne + ni); member b adds its
        spikes to row 3 b + (0 awake, 1 asleep, 2 finished: discarded)."""
        B = len(self.seeds)
        t, wake_t = self.counters[:, 0], self.counters[:, 1]
        awake, asleep = plan["awake"], plan["asleep"]
        # everything this tick needs from the host, in one transfer
        host = np.stack([
            rng.key_array(self.seeds, rng.Stream.NOISE, t, 0),
            rng.key_array(self.seeds, rng.Stream.NOISE, t, 1),
            rng.key_array(self.seeds, rng.Stream.INPUT, wake_t), plan["present"], asleep, plan["active"],
            np.minimum(plan["img"], n_images - 1),
            np.where(plan["present"], plan["img"], n_images) + np.arange(B) * (n_images + 1),
            plan["rec_pos"],
            rng.key_array(self.seeds, rng.Stream.TRACE_ROUND, t, stdp.PRE_TRACES),
            rng.key_array(self.seeds, rng.Stream.TRACE_ROUND, t, stdp.POST_TRACES),
            np.where(awake, 0, np.where(asleep, 1, 2)) + np.arange(B) * 3,
        ]).astype(np.int64)
        h = torch.from_numpy(host).to(self.dev)
        present_t, asleep_t, active_t = h[3].bool(), h[4].bool(), h[5].bool()
        z = rng.normal_int(h[0][:, None], h[1][:, None], self.nidx)
        if asleep.all():
            noise = neuron.noise_from_int(z, self.nc, True, self.dt)
        elif not asleep.any():
            noise = neuron.noise_from_int(z, self.nc, False, self.dt)
        else:
            noise = torch.where(asleep_t[:, None], neuron.noise_from_int(z, self.nc, True, self.dt),
                                neuron.noise_from_int(z, self.nc, False, self.dt))
        decay_a = plan["decay_a"]
        decay_a = bool(decay_a[0]) if (decay_a == decay_a[0]).all() else \
            torch.from_numpy(decay_a).to(self.dev)[:, None]
        self.u, self.v, self.a, s_n = neuron.neuron_step(self.u, self.v, self.a, self.pending, noise,
                                                         self.nc, decay_a, plan["adapt"])
        rows = thr_t[h[6]] if thr_t.ndim == 2 else thr_t[self.barange, h[6]]
        sx = rng.bernoulli(h[2][:, None], self.pidx, rows) & present_t[:, None]
        s = {"X": sx, "E": s_n[:, : self.ne], "I": s_n[:, self.ne:]}
        self.pending = self._propagate(s)  # weights before this step's learning
        self._learn(s, plan, active_t, h[9:11])
        if plan["block_end"].any():
            self._decay(plan)
        counts.index_add_(0, h[7], s["E"].to(torch.int64))
        activity[0].index_add_(0, h[11], sx.to(torch.int64))
        activity[1].index_add_(0, h[11], s_n.to(torch.int64))
        if rec is not None:
            rec["X"][self.barange, h[8]] = sx
            rec["N"][self.barange, h[8]] = s_n
            rec["asleep"][self.barange, h[8]] = asleep_t

    def _learn(self, s, plan, active_t, trace_keys):
        """ReferenceSimulator._learn for every member, learning masked per member.

        ``trace_keys``: (2, B) keys of the fixed trace rounding (pre, post) at this tick's steps.
        """
        fc = self.fc
        rx = ry = {}
        if fc is not None and fc.trace_rounding != "stochastic":  # one offset for every trace
            r = rounding_offset(fc.trace_rounding, stdp.TRACE_DECAY_BITS)
            rx = dict.fromkeys(self.x, r)
            ry = dict.fromkeys(self.y, r)
        elif fc is not None:  # one hash per side over the network-wide trace index, split by population
            r = [stdp.trace_rounding(trace_keys[k][:, None], self.trace_index[k]) for k in (0, 1)]
            rx = {p: r[0][:, sl] for p, sl in self.trace_slices["x"].items()}
            ry = {p: r[1][:, sl] for p, sl in self.trace_slices["y"].items()}
        xd = {p: stdp.trace_step(x, self.k_plus, fc, rx.get(p)) for p, x in self.x.items()}
        yd = {p: stdp.trace_step(y, self.k_minus, fc, ry.get(p)) for p, y in self.y.items()}
        active = plan["active"]
        if active.any():
            gate = None if active.all() else active_t.to(self.dt)[:, None, None]
            for name in self.plastic:
                pre, post = name[0], name[1]
                dm = stdp.stdp_delta(self.rules[name], self.m[name], self.mask[name], s[pre], s[post],
                                     xd[pre], yd[post])
                self.acc[name] += dm if gate is None else dm * gate
        self.x = {p: stdp.trace_add(xd[p], s[p].to(self.dt), fc) for p in xd}
        self.y = {p: stdp.trace_add(yd[p], s[p].to(self.dt), fc) for p in yd}
        ends = plan["epoch_end"]
        if not ends.any():
            return
        t = self.counters[:, 0]
        gate = None if ends.all() else torch.from_numpy(ends).to(self.dev)[:, None, None]
        for idx, name in enumerate(PATHWAY_NAMES):
            if name not in self.plastic:
                continue
            r, bits = None, 0
            if fc is not None:
                bits = fc.dw_frac_bits

                def draws(idx=idx, name=name, bits=bits):
                    k = self._keys(rng.Stream.STDP_ROUND + idx, t // self.t_epoch).to(self.dev)
                    return rng.uniform_u32(k[:, None, None], self.flat[name]) >> (32 - bits)

                r = rounding_offset(fc.dw_rounding, bits, draws)
            new = stdp.apply_epoch(self.rules[name], self.m[name], self.acc[name], self.mask[name], r, bits)
            if gate is None:
                self.m[name] = new
                self.acc[name].zero_()
            else:
                self.m[name] = torch.where(gate, new, self.m[name])
                self.acc[name] = torch.where(gate, torch.zeros_like(new), self.acc[name])

    def _decay(self, plan):
        """Block decay (ReferenceSimulator._decay) for the members whose decay block ends now.

        Members are grouped by (decay constants, K) and each group is decayed with one batched
        call of kernels.sleep.decay_block; float static targets travel as a (G, 1, 1) tensor.
        """
        members = self.sim.members
        groups: dict = {}
        for b in np.flatnonzero(plan["block_end"]):
            sig = []
            for name in self.plastic:
                dc = members[b].decay[name]
                if self.fc is None or dc.target != "static":
                    dc = dataclasses.replace(dc, static_target=0.0)
                sig.append(dc)
            groups.setdefault((tuple(sig), int(plan["k"][b])), []).append(int(b))
        t1 = self.counters[:, 0] + 1  # the decay is keyed by the step count after this step
        for (_, k_steps), idx in groups.items():
            it = torch.as_tensor(idx, device=self.dev)
            for p_idx, name in enumerate(PATHWAY_NAMES):
                if name not in self.plastic:
                    continue
                dc = members[idx[0]].decay[name]
                if self.fc is None and dc.target == "static":
                    tgt = [members[b].decay[name].static_target for b in idx]
                    dc = dataclasses.replace(
                        dc, static_target=torch.tensor(tgt, dtype=self.dt, device=self.dev)[:, None, None])
                xi = r = None
                stream = rng.Stream.DECAY + p_idx
                if self.fc is not None:
                    k = self._keys(stream, t1[idx], idx).to(self.dev)[:, None, None]
                    r = rng.uniform_u32(k, self.flat[name]) >> (32 - dc.decay_frac_bits)
                elif dc.noise > 0:
                    k1 = self._keys(stream, t1[idx], idx, 0).to(self.dev)[:, None, None]
                    k2 = self._keys(stream, t1[idx], idx, 1).to(self.dev)[:, None, None]
                    xi = rng.normal_int(k1, k2, self.flat[name]).to(self.dt) / rng.NORMAL_INT_SD
                m = self.m[name][it]
                mask = self.mask[name][it]
                new = sleep.decay_block(dc, m, mask, self.total0[name][it], self.row_total0[name][it],
                                        k_steps, xi=xi, r=r)
                new, new_mask = sleep.floor_and_prune(dc, new, mask)
                self.m[name][it] = new
                self.mask[name][it] = new_mask

    def _normalize(self, members) -> None:
        """Per-image normalization (ReferenceSimulator._normalize) of ``members``, keyed by
        their step counters (already advanced past the slot's last step)."""
        it = torch.as_tensor(members, device=self.dev)
        t = self.counters[members, 0]
        for p_idx, name in enumerate(PATHWAY_NAMES):
            if name not in self.normalized:
                continue
            dc = self.norm[name]
            r = None
            if self.fc is not None:
                k = self._keys(rng.Stream.DECAY + p_idx, t, members, NORMALIZE_DRAW).to(self.dev)
                r = rng.uniform_u32(k[:, None, None], self.flat[name]) >> (32 - dc.decay_frac_bits)
            self.m[name][it] = sleep.decay_block(dc, self.m[name][it], self.mask[name][it],
                                                 self.total0[name][it], self.row_total0[name][it],
                                                 1, r=r)

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
        thr_t = torch.from_numpy(np.ascontiguousarray(thr, dtype=np.int64)).to(self.dev)
        sp = [mi.params.sleep for mi in members]
        sleeping = np.array([sleep_on and s.fraction > 0 for s in sp])
        period = np.array([s.period for s in sp], dtype=np.int64)
        block = np.array([s.block for s in sp], dtype=np.int64)
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
        if on_demand is not None:
            for b in np.flatnonzero(on_demand > 0):
                self._fall_asleep(b, int(on_demand[b]), ON_DEMAND_EPISODE, phase, used, since, planned,
                                  open_ep)
            self._record_totals_before(list(open_ep), open_ep)
        counts = torch.zeros((B * (n + 1), self.ne), dtype=torch.int64, device=self.dev)
        # spike totals per neuron, rows (awake, asleep, finished) per member, on the device
        activity = tuple(torch.zeros((B * 3, w), dtype=torch.int64, device=self.dev)
                         for w in (self.nx, self.ne + self.ni))
        rec, cap = None, 0
        if record:
            cap = int(max(self._record_bound(b, n * slot, sleeping[b]) + int(planned[b]) for b in range(B)))
            rec = {k: torch.zeros((B, cap + 1, w), dtype=torch.bool, device=self.dev)
                   for k, w in (("X", self.nx), ("N", self.ne + self.ni))}
            rec["asleep"] = torch.zeros((B, cap + 1), dtype=torch.bool, device=self.dev)
        # members that do nothing in this call tick along: their state is restored at the end
        snapshots: dict[int, list] = {int(b): self._snapshot(b) for b in np.flatnonzero(phase == 2)} \
            if (phase != 2).any() else {}
        done_images = 0
        while (phase != 2).any():
            live = phase != 2
            awake, asleep = phase == 0, phase == 1
            t = self.counters[:, 0]
            active = live & learn & (awake | (asleep & self.learn_in_sleep))
            block_end = asleep & (((used + 1) % block == 0) | (used + 1 == planned))
            plan = {
                "awake": awake, "present": awake & (in_img < spi), "asleep": asleep,
                "active": active, "img": img, "decay_a": neuron.adaptation_decays(t, a_every),
                "adapt": adapt,
                "epoch_end": live & ((t + 1) % self.t_epoch == 0) & (self.dirty | active),
                "block_end": block_end, "k": since + 1,
                "rec_pos": np.where(live, steps, cap),
            }
            self._tick(plan, thr_t, n, counts, activity, rec)
            self.dirty = (self.dirty | active) & ~plan["epoch_end"]
            self.counters[live, 0] += 1
            steps[live] += 1
            # wake members: advance the data stream, maybe fall asleep
            self.counters[awake, 1] += 1
            in_img[awake] += 1
            img_done = awake & (in_img == slot)
            img[img_done] += 1
            in_img[img_done] = 0
            if learn and self.normalized and img_done.any():
                self._normalize(np.flatnonzero(img_done))
            trigger = awake & sleeping & (self.counters[:, 1] % period == 0)
            for b in np.flatnonzero(trigger):
                self.counters[b, 2] += 1
                length = sp[b].episode_length(int(self.counters[b, 2]))
                if length > 0:
                    self._fall_asleep(b, length, int(self.counters[b, 2]), phase, used, since, planned,
                                      open_ep)
            self._record_totals_before([b for b in np.flatnonzero(trigger) if phase[b] == 1], open_ep)
            # sleeping members: count, settle blocks, wake up
            used[asleep] += 1
            since[asleep] += 1
            sleep_steps[asleep] += 1
            since[block_end] = 0
            ending = asleep & (used == planned)
            check = np.flatnonzero(block_end & (used < planned) & (tol > 0))
            if check.size and self.plastic:
                tot = self._totals(check)
                cols = [PATHWAY_NAMES.index(n_) for n_ in self.plastic]
                for b, row in zip(check, tot, strict=True):
                    t0 = [float(members[b].total0[n_]) for n_ in self.plastic]
                    if sleep.wake_check([float(row[c]) for c in cols], t0, float(tol[b])):
                        ending[b] = True
                        open_ep[b]["woke_early"] = True
            ended = np.flatnonzero(ending)
            if ended.size:
                for b, tot in zip(ended, self._totals(ended), strict=True):
                    e = open_ep.pop(b)
                    self.counters[b, 3] += used[b]
                    episodes[b].append({
                        "episode": e["episode"], "start_step": e["start_step"],
                        "wake_step": int(self.counters[b, 1]), "planned": int(planned[b]),
                        "used": int(used[b]), "woke_early": e.get("woke_early", False),
                        "totals_before": e["totals_before"],
                        "totals_after": dict(zip(PATHWAY_NAMES, map(float, tot), strict=True)),
                    })
                    phase[b] = 0
            finished = live & (phase == 0) & (img >= n)
            for b in np.flatnonzero(finished):
                phase[b] = 2
                snapshots[b] = self._snapshot(b)
            if progress is not None and int(img.sum()) != done_images:
                done_images = int(img.sum())
                progress(done_images)
        targets = [getattr(self, k) for k in _NEURON_STATE] + list(self.x.values()) + list(self.y.values())
        for b, saved in snapshots.items():
            for dst, src in zip(targets, saved, strict=True):
                dst[b] = src
        counts_np = counts.reshape(B, n + 1, self.ne)[:, :n].cpu().numpy()
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
        open_ep[b] = {"episode": episode, "start_step": int(self.counters[b, 0])}

    def _record_totals_before(self, starting, open_ep) -> None:
        """The pathway totals of the members in ``starting`` into their open episode records."""
        if starting:
            for b, tot in zip(starting, self._totals(starting), strict=True):
                open_ep[b]["totals_before"] = dict(zip(PATHWAY_NAMES, map(float, tot), strict=True))

    def _record_bound(self, b: int, n_wake: int, sleeping: bool) -> int:
        """Upper bound of member b's steps in a call with n_wake wake steps (sleep included)."""
        sp = self.sim.members[b].params.sleep
        if not sleeping:
            return n_wake
        w0, ep0 = int(self.counters[b, 1]), int(self.counters[b, 2])
        k = (w0 + n_wake) // sp.period - w0 // sp.period
        return n_wake + sum(sp.episode_length(ep0 + i) for i in range(1, k + 1))
