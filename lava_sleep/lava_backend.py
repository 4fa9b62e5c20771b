"""Lava backends: the E/I network on Lava's CPU simulator (and Loihi 2 with lava-loihi).

``make(backend, params_list, seeds, mode, dtype)`` returns a simulator with the
:class:`lava_sleep.backends.NumpyBatch` interface (``run``, ``sleep``, ``weights``,
``masks``, ``state_dict``, plus ``close``) for one network (B = 1):

=====================  ===========================================================
backend                model
=====================  ===========================================================
``lava-float``         graph model (one Lava process per population, pathway and
                       the controller), ``floating_pt`` models
``lava-fixed``         graph model, ``fixed_pt`` models (bit-exact with the oracle's
                       fixed mode)
``lava-float-fused``   fused model (the whole network in one Lava process), float;
                       its step is the compiled kernel where a C compiler exists
                       (else the NumPy cores; ``fused_kernel`` picks)
``lava-fixed-fused``   fused model, fixed point
``loihi2``             the Loihi-native variant (lava_sleep.processes.loihi_native)
                       on Loihi 2; needs Intel's lava-loihi extension
=====================  ===========================================================

The backend name decides float or fixed (the ``mode`` argument is ignored for
the lava-* backends); Lava models run in float64 only.

How a run is driven (no Var.get in loops): the host plans *chunks* of steps
that end at every sleep trigger, every sleep block end and at the end of the
call, and never put more messages into a host pipe than it holds. Per chunk it
sends the images that start inside it (``img_in``) and one command
(``cmd_in``: steps, learn, record, sleep on), runs ``RunSteps(n)`` and then
drains the pipes: E spike counts at every image end (``counts_out``), one sleep
status at every block end (``status_out``) and, when recording, the spikes of
every step (``rec_x``/``rec_e``/``rec_i``). The host mirrors the schedule (global
step, wake step, episode counter) and checks it against the controller's status.
An on-demand episode (``sleep``) is started by its first chunk's command (``CMD_SLEEP_NOW``,
the planned length) and then runs as a scheduled one; the host reads the totals before it with
``Var.get`` (the controller can read weights only after a step's learning).
Weights, masks and state are read once, when asked for, with ``Var.get`` (slow
for large matrices: about 20k values per second; results are cached until the
next run).

Always call :meth:`LavaSimulator.close` (or use the simulator as a context
manager): it stops the Lava runtime and its worker processes. A closed
simulator cannot run again (Lava crashes on run() after stop()).
"""

from __future__ import annotations

import importlib.util
import weakref

import numpy as np

from lava_sleep.fixed import to_fixed
from lava_sleep.network import build_network
from lava_sleep.params import PATHWAY_NAMES, ModelParams
from lava_sleep.reference import ON_DEMAND_EPISODE, RunOutput, check_sleep_steps, spike_arrays
from lava_sleep.simulation import BackendError, BatchOutput

LAVA_BACKENDS = {
    "lava-float": ("float", "graph"),
    "lava-fixed": ("fixed", "graph"),
    "lava-float-fused": ("float", "fused"),
    "lava-fixed-fused": ("fixed", "fused"),
}
#: Module that only Intel's lava-loihi extension provides (Loihi 2 compiler).
LOIHI_MODULE = "lava.magma.compiler.subcompilers.nc"


def lava_loihi_available() -> bool:
    """True when lava-loihi (the Loihi 2 compiler and runtime) is installed."""
    try:
        return importlib.util.find_spec(LOIHI_MODULE) is not None
    except ModuleNotFoundError:
        return False


def make(backend: str, params_list: list[ModelParams], seeds: list[int], mode: str = "float",
         dtype: str = "float64", fused_kernel: str = "auto"):
    """Create a Lava simulator (B = 1). Raises BackendError with one line when impossible.

    ``fused_kernel`` ("auto", "native", "numpy") applies to the -fused backends only.
    """
    from lava_sleep.backends import lava_available, lava_missing_message

    if backend != "loihi2" and backend not in LAVA_BACKENDS:
        raise BackendError(f"unknown Lava backend {backend!r}; choose one of "
                           f"{', '.join([*LAVA_BACKENDS, 'loihi2'])}")
    if not lava_available():  # e.g. Python 3.11+, where lava-nc does not install
        raise BackendError(lava_missing_message(backend))
    if backend == "loihi2":
        if not lava_loihi_available():
            raise BackendError(
                "backend 'loihi2' needs Intel's lava-loihi extension (module "
                f"{LOIHI_MODULE}, package lava-loihi, available to INRC members), which is "
                "not installed; use lava-float, lava-fixed or their -fused variants on the CPU")
        if len(seeds) != 1:  # pragma: no cover - needs lava-loihi
            raise BackendError(f"the loihi2 backend simulates one network (B = 1), got B = {len(seeds)}")
        return LoihiNativeSimulator(params_list[0], seeds[0], mode="fixed",
                                    hardware=True)  # pragma: no cover - needs lava-loihi
    if len(params_list) != 1 or len(seeds) != 1:
        raise BackendError(f"Lava backends simulate one network (B = 1), got B = {len(seeds)}")
    if dtype != "float64":
        raise BackendError(f"Lava backends run in float64 (or fixed point), not {dtype}")
    lava_mode, model = LAVA_BACKENDS[backend]
    return LavaSimulator(params_list[0], seeds[0], mode=lava_mode, model=model, fused_kernel=fused_kernel)


def _resolve_fused_kernel(kernel: str, mode: str, params: ModelParams, seed: int, init) -> str:
    """The fused model's step implementation for ``kernel`` ("auto", "native", "numpy"),
    decided on the host so that callers know which one ran (and so that a compiled kernel
    that cannot run these params is refused here, not in a Lava worker)."""
    from lava_sleep.kernels import native
    from lava_sleep.processes.ei_network.models import resolve_fused_kernel
    from lava_sleep.processes.ei_network.process import FUSED_KERNELS

    if kernel not in FUSED_KERNELS:
        raise BackendError(f"fused_kernel must be one of {', '.join(FUSED_KERNELS)}, got {kernel!r}")
    try:
        return resolve_fused_kernel(kernel, params, seed, init, mode == "fixed")
    except native.NativeBuildError as exc:
        raise BackendError(f"the fused model's compiled kernel is unavailable: {exc}") from None


def _stop_network(net) -> None:
    """Stop a Lava network's runtime (used by close() and as the finalizer).

    Lava's stop() waits forever for the workers of a runtime that was created but
    never ran (they never got a command); those are terminated first.
    """
    runtime = net.runtime
    if runtime is None:
        return
    if not runtime._is_started:
        for actor in runtime._messaging_infrastructure.actors:
            actor.terminate()
    net.stop()


class LavaSimulator:
    """One E/I network on Lava's CPU simulator, graph or fused model, float or fixed.

    Has the BatchSimulator interface with B = 1 (``b`` arguments must be 0).
    ``fused_kernel`` ("auto", "native", "numpy") picks the fused model's step
    implementation (see :class:`~lava_sleep.processes.ei_network.process.EINetwork`).
    """

    batch = 1

    def __init__(self, params: ModelParams, seed: int, mode: str = "float", model: str = "graph",
                 fused_kernel: str = "auto"):
        try:
            from lava_sleep.processes.ei_network.process import EINetwork, run_config
        except ImportError as exc:  # pragma: no cover - lava-nc is a dependency
            raise BackendError(f"the Lava backends need lava-nc: {exc}") from None
        if params.network.n_inh < 1:
            raise BackendError("Lava backends need at least one inhibitory neuron (n_inh >= 1)")
        if mode == "fixed":
            params.check_fixed()
        self.params = params
        self.seed = int(seed)
        self.mode = mode
        self.model = model
        self.fixed = mode == "fixed"
        self.fc = to_fixed(params) if self.fixed else None
        self.init = build_network(params, self.seed)
        m0 = self.init.magnitudes_fixed() if self.fixed else self.init.magnitudes
        self._const_totals = {n: float(m0[n].sum()) for n in PATHWAY_NAMES}
        self.fused_kernel = (_resolve_fused_kernel(fused_kernel, mode, params, self.seed, self.init)
                             if model == "fused" else None)
        self.net = EINetwork(params=params, seed=self.seed, init=self.init,
                             fused_kernel=self.fused_kernel or "auto")
        self.cfg = run_config(mode, model)
        self.t = 0
        self.wake_t = 0
        self.n_episodes = 0
        self.sleep_steps_total = 0
        self._pipes = None
        self._closed = False
        self._cache: dict[str, np.ndarray] = {}

    # -- lifecycle -------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BackendError("this Lava simulator was closed; create a new one")

    def _start(self):
        self._check_open()
        if self._pipes is not None:
            return
        from lava_sleep.processes.ei_network.process import HOST_PORTS, host_port

        self.net.create_runtime(run_cfg=self.cfg)
        # stop Lava even if the caller forgets close(): at garbage collection or exit
        # (an unstopped runtime keeps worker processes alive and the interpreter hangs)
        self._finalizer = weakref.finalize(self, _stop_network, self.net)
        pipes = {}
        for name in HOST_PORTS:
            port = host_port(self.net, name)
            pipes[name] = (port.external_pipe_csp_send_port if name.endswith("_in")
                           else port.external_pipe_csp_recv_port)
        self._pipes = pipes

    def close(self) -> None:
        """Stop the Lava runtime (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._pipes is not None:
                self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- running -------------------------------------------------------------
    def _chunk(self, n: int, learn: bool, record: bool, sleep_on: bool, rec, sleep_now: int = 0) -> None:
        from lava.magma.core.run_conditions import RunSteps

        self._pipes["cmd_in"].send(np.array([n, learn, record, sleep_on, sleep_now], dtype=np.float64))
        self.net.run(condition=RunSteps(num_steps=n), run_cfg=self.cfg)
        if record:
            for pop, pipe in (("X", "rec_x"), ("E", "rec_e"), ("I", "rec_i")):
                recv = self._pipes[pipe].recv
                rec[pop].extend(recv().astype(bool) for _ in range(n))

    def run_one(self, images, learn: bool = True, sleep_on: bool = True,
                record_spikes: bool = False, progress=None) -> RunOutput:
        """Present ``images`` (n, n_input) uint8, each for steps_per_image wake steps followed by
        rest_steps wake steps without input (one image slot)."""
        from lava_sleep.processes.ei_network.process import COUNT_PIPE, IMAGE_PIPE, REC_PIPE

        images = np.asarray(images)
        n_x = self.params.n_input
        if images.ndim != 2 or images.shape[1] != n_x:
            raise ValueError(f"images must have shape (n, {n_x}), got {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (0-255), got {images.dtype}")
        self._start()
        self._cache = {}
        sp = self.params.sleep
        spi = self.params.input.steps_per_image
        slot = self.params.input.slot_steps
        sleeping = sleep_on and sp.fraction > 0
        n_img = len(images)
        out = RunOutput(counts=np.zeros((n_img, self.params.network.n_exc), dtype=np.int64))
        rec = {"X": [], "E": [], "I": [], "asleep": []} if record_spikes else None
        limit = (min(IMAGE_PIPE, COUNT_PIPE) - 1) * slot
        if record_spikes:
            limit = min(limit, REC_PIPE)
        w_start = self.wake_t
        total = n_img * slot
        done_images = 0
        while self.wake_t - w_start < total:
            w0 = self.wake_t
            n = min(total - (w0 - w_start), limit)
            if sleeping:
                n = min(n, sp.period - w0 % sp.period)
            for w in range(w0, w0 + n):  # an image at each slot start
                if w % slot == 0:
                    self._pipes["img_in"].send(images[(w - w_start) // slot].astype(np.float64))
            self._chunk(n, learn, record_spikes, sleep_on, rec)
            for w in range(w0, w0 + n):  # its counts after the last presentation step
                if w % slot == spi - 1:
                    out.counts[(w - w_start) // slot] = self._pipes["counts_out"].recv().astype(np.int64)
            if rec is not None:
                rec["asleep"].extend([False] * n)
            self.t += n
            self.wake_t += n
            out.steps += n
            if progress is not None:
                while done_images < (self.wake_t - w_start) // slot:
                    done_images += 1
                    progress(done_images)
            if sleeping and self.wake_t % sp.period == 0:
                self.n_episodes += 1
                planned = sp.episode_length(self.n_episodes)
                if planned > 0:
                    self._episode(planned, learn, record_spikes, rec, out)
        out.steps += out.sleep_steps
        if rec is not None:
            out.spikes = spike_arrays(rec, self.params.sizes())
        return out

    def sleep_one(self, steps: int, learn: bool = True, record_spikes: bool = False) -> RunOutput:
        """One on-demand sleep episode of planned length ``steps`` (int >= 0; 0: nothing), starting
        now: ReferenceSimulator.sleep (the controller runs it as a scheduled episode; the
        schedule's episode counter is unchanged). The totals before the episode are read with
        Var.get (the plastic pathways' weights)."""
        planned = check_sleep_steps(steps, 1)[0]
        out = RunOutput(counts=np.zeros((0, self.params.network.n_exc), dtype=np.int64))
        rec = {"X": [], "E": [], "I": [], "asleep": []} if record_spikes else None
        if planned > 0:
            self._check_open()  # (before Var.get: a stopped runtime would not answer)
            before = dict(self._const_totals)  # initial totals; only plastic pathways change
            if self._pipes is not None:
                dtype = np.int64 if self.fixed else np.float64
                for n in self.params.network.plastic_pathways:
                    before[n] = float(self._get(f"w_{n}").astype(dtype).sum())
            self._start()
            self._cache = {}
            self._episode(planned, learn, record_spikes, rec, out, before=before)
        out.steps = out.sleep_steps
        if rec is not None:
            out.spikes = spike_arrays(rec, self.params.sizes())
        return out

    def sleep(self, steps, learn: bool = True, record_spikes: bool = False) -> BatchOutput:
        """BatchSimulator.sleep for B = 1 (``steps`` an int or a sequence of one int)."""
        o = self.sleep_one(check_sleep_steps(steps, 1)[0], learn=learn, record_spikes=record_spikes)
        return self._batch_output(o, record_spikes)

    def _episode(self, planned: int, learn: bool, record: bool, rec, out: RunOutput,
                 before: dict | None = None) -> None:
        """Run one sleep episode of ``planned`` steps: the next scheduled one (the controller
        started it at its trigger), or with ``before`` (the totals before it, per pathway) an
        on-demand one that the first chunk's command starts (recorded as episode 0)."""
        from lava_sleep.processes.ei_network.process import REC_PIPE
        from lava_sleep.processes.sleep_controller.process import (
            STATUS_OVER,
            STATUS_START,
            STATUS_TOTALS_BEFORE,
            STATUS_USED,
            STATUS_WOKE,
            status_totals_after,
        )

        block = self.params.sleep.block
        start = self.t
        used = 0
        while True:
            n = min(block - used % block, planned - used)
            if record:
                n = min(n, REC_PIPE)
            self._chunk(n, learn, record, True, rec, planned if before is not None and used == 0 else 0)
            if rec is not None:
                rec["asleep"].extend([True] * n)
            used += n
            self.t += n
            if used % block and used != planned:
                continue
            status = self._pipes["status_out"].recv()
            if int(status[STATUS_USED]) != used or int(status[STATUS_START]) != start:
                raise RuntimeError(f"Lava sleep controller out of step with the host: status {status}, "
                                   f"host used={used} start={start}")
            if status[STATUS_OVER]:
                break
            if used == planned:
                raise RuntimeError("Lava sleep controller did not end the episode at its planned length")
        self.sleep_steps_total += used
        out.sleep_steps += used
        # the status carries the plastic pathways' totals; the others never change
        plastic = self.params.network.plastic_pathways
        after = status_totals_after(len(plastic))
        before_t, after_t = dict(self._const_totals), dict(self._const_totals)
        for i, n in enumerate(plastic):
            before_t[n] = float(status[STATUS_TOTALS_BEFORE + i])
            after_t[n] = float(status[after + i])
        if before is not None:  # on demand: the controller cannot read them before the first step
            before_t.update(before)
        out.episodes.append({
            "episode": ON_DEMAND_EPISODE if before is not None else self.n_episodes,
            "start_step": start, "wake_step": self.wake_t,
            "planned": planned, "used": used, "woke_early": bool(status[STATUS_WOKE]),
            "totals_before": {n: before_t[n] for n in PATHWAY_NAMES},
            "totals_after": {n: after_t[n] for n in PATHWAY_NAMES},
        })

    def run(self, images, learn: bool = True, sleep_on: bool = True, record_spikes: bool = False,
            progress=None) -> BatchOutput:
        """BatchSimulator.run for B = 1 (images (n, n_input) or (1, n, n_input))."""
        images = np.asarray(images)
        if images.ndim == 3:
            if images.shape[0] != 1:
                raise BackendError("Lava backends simulate one network (B = 1)")
            images = images[0]
        o = self.run_one(images, learn=learn, sleep_on=sleep_on, record_spikes=record_spikes,
                         progress=progress)
        return self._batch_output(o, record_spikes)

    @staticmethod
    def _batch_output(o: RunOutput, record_spikes: bool) -> BatchOutput:
        return BatchOutput(counts=o.counts[None], episodes=[o.episodes],
                           spikes=[o.spikes] if record_spikes else None,
                           steps=np.array([o.steps]), sleep_steps=np.array([o.sleep_steps]))

    # -- reading state (one Var.get per array, cached until the next run) ------
    def _get(self, var: str) -> np.ndarray:
        if var not in self._cache:
            self._cache[var] = np.asarray(getattr(self.net, var).get())
        return self._cache[var]

    def _check_b(self, b: int) -> None:
        if b != 0:
            raise BackendError(f"Lava backends hold one network; member {b} does not exist")

    def magnitudes(self, b: int = 0) -> dict[str, np.ndarray]:
        """Weight magnitudes per pathway (float units, or integer LSB in fixed mode)."""
        self._check_b(b)
        if self._pipes is None:
            if self.fixed:
                return self.init.magnitudes_fixed()
            return {n: m.copy() for n, m in self.init.magnitudes.items()}
        dtype = np.int64 if self.fixed else np.float64
        return {n: self._get(f"w_{n}").astype(dtype) for n in PATHWAY_NAMES}

    def weights(self, b: int = 0) -> dict[str, np.ndarray]:
        """Signed float64 weights (post, pre) per pathway (fixed: dequantized)."""
        out = {}
        for n, m in self.magnitudes(b).items():
            sign = self.params.network.pathway(n).sign
            scale = self.fc.pathways[n].lsb if self.fixed else 1.0
            out[n] = sign * m.astype(np.float64) * scale
        return out

    def masks(self, b: int = 0) -> dict[str, np.ndarray]:
        self._check_b(b)
        if self._pipes is None:
            return {n: m.copy() for n, m in self.init.masks.items()}
        return {n: self._get(f"mask_{n}").astype(bool) for n in PATHWAY_NAMES}

    def state_dict(self, b: int = 0) -> dict[str, np.ndarray]:
        """The oracle's state_dict keys (traces only where the model tracks them)."""
        from lava_sleep.processes.ei_network.process import TRACES, trace_sources

        self._check_b(b)
        if self._pipes is None:
            raise BackendError("state_dict needs at least one run of the Lava network")
        dtype = np.int64 if self.fixed else np.float64
        get = {}
        for var in ("u", "v", "a"):
            get[var] = np.concatenate([self._get(f"{var}_E"), self._get(f"{var}_I")]).astype(dtype)
        ab = {n: self._get(f"a_buff_{n}").astype(dtype) for n in PATHWAY_NAMES}
        get["pending"] = np.concatenate([ab["XE"] + ab["EE"] + ab["IE"], ab["EI"]])
        get["counters"] = np.array([self.t, self.wake_t, self.n_episodes, self.sleep_steps_total])
        tracked = TRACES if self.model == "fused" else tuple(trace_sources(self.params))
        for tr in tracked:
            get[tr] = self._get(tr).astype(dtype)
        for n, m in self.magnitudes().items():
            get[f"m_{n}"] = m
        for n, m in self.masks().items():
            get[f"mask_{n}"] = m
        for n in self.params.network.plastic_pathways:
            get[f"acc_{n}"] = self._get(f"acc_{n}").astype(dtype)
        return get

    def load_state_dict(self, b: int, d) -> None:
        raise BackendError("Lava backends cannot load a state; resume with the numpy or torch backend")


class LoihiNativeSimulator:
    """The Loihi-native variant (Lava's LIF / Dense / LearningDense, no sleep).

    One :meth:`run` per simulator: the input RingBuffer replays a raster that is
    fixed when the network is built. ``hardware=True`` compiles for Loihi 2
    (needs lava-loihi); otherwise Lava's CPU simulator runs the same Processes
    (``floating_pt`` or ``fixed_pt`` models by ``mode``). The approximations of
    this variant are listed in lava_sleep.processes.loihi_native.process.
    """

    batch = 1

    def __init__(self, params: ModelParams, seed: int, mode: str = "float", hardware: bool = False):
        if params.network.n_inh < 1:
            raise BackendError("the Loihi-native variant needs at least one inhibitory neuron")
        if hardware and not lava_loihi_available():
            raise BackendError(f"hardware runs need lava-loihi ({LOIHI_MODULE}), which is not installed")
        self.params, self.seed, self.mode, self.hardware = params, int(seed), mode, hardware
        self.init = build_network(params, self.seed)
        self._weights = None
        self._ran = False

    def _run_config(self):
        from lava.magma.core import run_configs

        tag = "floating_pt" if self.mode == "float" else "fixed_pt"
        cfg = run_configs.Loihi2HwCfg if self.hardware else run_configs.Loihi2SimCfg
        return cfg(select_tag=tag, select_sub_proc_model=True)

    def run(self, images, learn: bool = True, sleep_on: bool = True, record_spikes: bool = False,
            progress=None) -> BatchOutput:
        """Present ``images`` (wake steps only; learning always on, no sleep phase)."""
        from lava.magma.core.run_conditions import RunSteps

        from lava_sleep.processes.loihi_native.process import LoihiEINetwork, input_raster

        if self._ran:
            raise BackendError("the Loihi-native simulator runs one image stream; create a new one")
        if not learn or record_spikes:
            raise BackendError("the Loihi-native variant always learns and records no spike raster")
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[0]
        raster = input_raster(self.params, self.seed, images)
        net = LoihiEINetwork(params=self.params, seed=self.seed, input_spikes=raster, mode=self.mode,
                             init=self.init)
        self._ran = True
        try:
            net.run(condition=RunSteps(num_steps=raster.shape[1]), run_cfg=self._run_config())
            spikes = np.asarray(net.spikes_E.get()) != 0
            self._weights = {n: np.asarray(getattr(net, f"w_{n}").get(), dtype=np.float64)
                             for n in PATHWAY_NAMES}
        finally:
            net.stop()
        spi, slot = self.params.input.steps_per_image, self.params.input.slot_steps
        counts = spikes.T.reshape(len(images), slot, -1)[:, :spi].sum(axis=1).astype(np.int64)
        if progress is not None:
            progress(len(images))
        return BatchOutput(counts=counts[None], episodes=[[]], spikes=None,
                           steps=np.array([raster.shape[1]]), sleep_steps=np.array([0]))

    def sleep(self, steps, learn: bool = True, record_spikes: bool = False) -> BatchOutput:
        """No sleep phase on Loihi 2 as is: always a BackendError."""
        raise BackendError("backend loihi2 has no on-demand sleep")

    def weights(self, b: int = 0) -> dict[str, np.ndarray]:
        """Signed weights in weight units (fixed: integer weights times the pathway LSB)."""
        if self._weights is None:
            raise BackendError("no weights yet: run the Loihi-native simulator first")
        if self.mode == "float":
            return {n: w.copy() for n, w in self._weights.items()}
        fc = to_fixed(self.params)
        return {n: w * fc.pathways[n].lsb for n, w in self._weights.items()}

    def masks(self, b: int = 0) -> dict[str, np.ndarray]:
        """The initial structural masks (LearningDense may grow absent synapses: see the docs)."""
        return {n: m.copy() for n, m in self.init.masks.items()}

    def close(self) -> None:
        """Nothing to release: every run stops its runtime."""
