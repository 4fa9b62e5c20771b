"""Native CPU path of the torch engine: the compiled kernel (lava_sleep/kernels/native.c).

Per-op overhead decides speed on a CPU: one eager torch op costs microseconds, and an
event-driven step of the paper network needs ~50 of them, so even a fused tensor program
stays near 2,000-5,000 steps/s (ARCHITECTURE.md). This path therefore runs the whole
wake/sleep loop of a call in C (``ls_run``; an on-demand sleep episode: ``ls_sleep``) on each member's
:class:`~lava_sleep.kernels.native.NativeNetwork` (state in NumPy arrays), with the members of
a batch in parallel threads (ctypes releases the GIL during the call). Building, caching and
loading the kernel is lava_sleep.kernels.native.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from lava_sleep.kernels.native import CallC, NativeNetwork
from lava_sleep.params import PATHWAY_NAMES


class NativeImpl:
    """One :class:`NativeNetwork` per batch member (the engine's ``impl="native"``)."""

    name = "native"

    def __init__(self, sim, threads: int | None = None):
        self.sim = sim
        self.mode = "fixed" if sim.fixed else sim.dtype_name
        B, (nx, ne, ni) = sim.batch, sim.sizes
        self.nx, self.ne, self.ni = nx, ne, ni
        self.nets = [NativeNetwork(mi, self.mode) for mi in sim.members]
        n_threads = threads if threads is not None else torch.get_num_threads()
        self.n_threads = max(1, min(B, int(n_threads)))
        self._pool = ThreadPoolExecutor(self.n_threads) if self.n_threads > 1 else None

    # -- state --------------------------------------------------------------------------------
    def state_dict(self, b: int) -> dict[str, np.ndarray]:
        return self.nets[b].state_dict()

    def load_state_dict(self, b: int, d) -> None:
        self.nets[b].load_state_dict(d)

    def magnitudes(self, b: int, name: str) -> np.ndarray:
        return self.nets[b].magnitudes(name)

    def mask_of(self, b: int, name: str) -> np.ndarray:
        return self.nets[b].mask_of(name)

    # -- run ----------------------------------------------------------------------------------
    def run(self, thr: np.ndarray, learn: bool, sleep_on: bool, record: bool, progress,
            slice_images: int = 8):
        """Simulate every member over the images of ``thr`` ((n, P) or (B, n, P) int64 thresholds)."""
        sim, B = self.sim, self.sim.batch
        n = thr.shape[-2]
        spi, rest = sim.params0.input.steps_per_image, sim.params0.input.rest_steps
        thr = np.ascontiguousarray(thr, dtype=np.int64)
        counts = np.zeros((B, n, self.ne), dtype=np.int64)
        # spike totals per neuron (wake, sleep): every slice's call adds to member b's block
        activity = np.zeros((B, 2, self.nx + self.ne + self.ni), dtype=np.int64)
        episodes = [[] for _ in range(B)]
        rec = [{"X": [], "N": [], "asleep": []} for _ in range(B)] if record else None
        steps = np.zeros(B, dtype=np.int64)
        sleep_steps = np.zeros(B, dtype=np.int64)
        for i0 in range(0, n, slice_images):
            i1 = min(n, i0 + slice_images)
            calls, keep = [], []
            for b in range(B):
                c, bufs = self._make_call(b, thr, i0, i1, spi, rest, learn, sleep_on, record, counts)
                c.activity = activity[b].ctypes.data
                calls.append(c)
                keep.append(bufs)
            self._execute(range(B), lambda b, calls=calls: self.nets[b].run(calls[b]))
            for b, (c, bufs) in enumerate(zip(calls, keep, strict=True)):
                self._collect(b, c, bufs, steps, sleep_steps, episodes, rec)
            if progress is not None:
                progress(B * i1)
        return counts, episodes, self._spikes(rec), steps, sleep_steps, activity

    def sleep(self, planned: np.ndarray, learn: bool, record: bool):
        """One on-demand sleep episode of ``planned[b]`` steps per member (``ls_sleep``; members
        with 0 do nothing). Returns what :meth:`run` returns, with no images."""
        B = self.sim.batch
        counts = np.zeros((B, 0, self.ne), dtype=np.int64)
        activity = np.zeros((B, 2, self.nx + self.ne + self.ni), dtype=np.int64)
        episodes = [[] for _ in range(B)]
        rec = [{"X": [], "N": [], "asleep": []} for _ in range(B)] if record else None
        steps = np.zeros(B, dtype=np.int64)
        sleep_steps = np.zeros(B, dtype=np.int64)
        members = [b for b in range(B) if planned[b] > 0]
        calls = {}
        for b in members:
            c = CallC()
            c.learn, c.activity = int(learn), activity[b].ctypes.data
            bufs = {"eps_i": np.zeros((1, 6), np.int64), "eps_tot": np.zeros((1, 8), np.float64)}
            c.eps_cap, c.eps_i, c.eps_tot = 1, bufs["eps_i"].ctypes.data, bufs["eps_tot"].ctypes.data
            if record:
                self._record_buffers(c, bufs, int(planned[b]))
            calls[b] = (c, bufs)
        self._execute(members, lambda b: self.nets[b].sleep(calls[b][0], int(planned[b])))
        for b in members:
            self._collect(b, *calls[b], steps, sleep_steps, episodes, rec)
        return counts, episodes, self._spikes(rec), steps, sleep_steps, activity

    def _collect(self, b, c, bufs, steps, sleep_steps, episodes, rec) -> None:
        """Check member b's finished call ``c`` and add its steps, episodes and spikes."""
        self.nets[b]._check(c.status, f"kernel of member {b}")
        steps[b] += c.steps
        sleep_steps[b] += c.sleep_steps
        episodes[b].extend(self._episodes(c, bufs))
        if rec is not None:
            rec[b]["X"].append(bufs["rec_x"][: c.steps].astype(bool))
            rec[b]["N"].append(bufs["rec_n"][: c.steps].astype(bool))
            rec[b]["asleep"].append(bufs["rec_asleep"][: c.steps].astype(bool))

    def _spikes(self, rec):
        """Per-member spike dicts from the recorded pieces (None when not recording)."""
        if rec is None:
            return None
        spikes = []
        for r in rec:
            nn = np.concatenate(r["N"]) if r["N"] else np.zeros((0, self.ne + self.ni), bool)
            spikes.append({
                "X": np.concatenate(r["X"]) if r["X"] else np.zeros((0, self.nx), bool),
                "E": nn[:, : self.ne], "I": nn[:, self.ne:],
                "asleep": np.concatenate(r["asleep"]) if r["asleep"] else np.zeros(0, bool),
            })
        return spikes

    def _record_buffers(self, c, bufs, rcap: int) -> None:
        """Spike recording buffers of ``rcap`` steps for call ``c`` (kept alive in ``bufs``)."""
        bufs["rec_x"] = np.zeros((rcap, self.nx), np.uint8)
        bufs["rec_n"] = np.zeros((rcap, self.ne + self.ni), np.uint8)
        bufs["rec_asleep"] = np.zeros(rcap, np.uint8)
        c.rec_cap = max(rcap, 1)
        c.rec_x, c.rec_n, c.rec_asleep = (bufs[k].ctypes.data for k in ("rec_x", "rec_n", "rec_asleep"))

    def _make_call(self, b, thr, i0, i1, spi, rest, learn, sleep_on, record, counts):
        mi = self.sim.members[b]
        sp = mi.params.sleep
        c = CallC()
        t_b = thr[b] if thr.ndim == 3 else thr
        c.thr = t_b[i0:i1].ctypes.data
        c.n_images, c.spi, c.rest, c.learn, c.sleep_on = i1 - i0, spi, rest, int(learn), int(sleep_on)
        c.counts = counts[b, i0:i1].ctypes.data
        wake_t, n_ep = int(self.nets[b].counters[1]), int(self.nets[b].counters[2])
        n_wake = (i1 - i0) * (spi + rest)  # wake steps: every image's slot
        cap = 0
        if sleep_on and sp.fraction > 0:
            cap = (wake_t + n_wake) // sp.period - wake_t // sp.period
        planned = np.array([sp.episode_length(n_ep + k) for k in range(1, cap + 1)] or [0], dtype=np.int64)
        bufs = {"planned": planned, "eps_i": np.zeros((max(cap, 1), 6), np.int64),
                "eps_tot": np.zeros((max(cap, 1), 8), np.float64), "thr": t_b}
        c.eps_cap = cap
        c.planned, c.eps_i, c.eps_tot = (bufs[k].ctypes.data for k in ("planned", "eps_i", "eps_tot"))
        if record:
            self._record_buffers(c, bufs, n_wake + int(planned[:cap].sum()))
        return c, bufs

    def _execute(self, members, call) -> None:
        """``call(b)`` for every member b of ``members``, split into contiguous parts over the
        worker threads (ctypes releases the GIL inside the kernel)."""
        members = list(members)
        n = len(members)

        def work(lo, hi):
            for k in range(lo, hi):
                call(members[k])

        if self._pool is None:
            work(0, n)
            return
        bounds = np.linspace(0, n, self.n_threads + 1).round().astype(int)
        futures = [self._pool.submit(work, int(lo), int(hi))
                   for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
        for f in futures:
            f.result()

    @staticmethod
    def _episodes(c, bufs) -> list[dict]:
        out = []
        for k in range(c.n_eps):
            e, tot = bufs["eps_i"][k], bufs["eps_tot"][k]
            if e[0] < 0:  # an episode of planned length 0 (counted, not recorded, as in the oracle)
                continue
            out.append({
                "episode": int(e[0]), "start_step": int(e[1]), "wake_step": int(e[2]),
                "planned": int(e[3]), "used": int(e[4]), "woke_early": bool(e[5]),
                "totals_before": {n: float(tot[i]) for i, n in enumerate(PATHWAY_NAMES)},
                "totals_after": {n: float(tot[4 + i]) for i, n in enumerate(PATHWAY_NAMES)},
            })
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
