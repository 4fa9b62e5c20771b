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
                       with the on-chip sleep: on Loihi 2 with Intel's lava-loihi,
                       else on Lava's CPU simulator (one line on stderr says so)
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


_NOTICED: set = set()


def _loihi2_notice(mode: str) -> None:
    """One line on stderr (once per process and mode): loihi2 without lava-loihi simulates."""
    import sys

    if mode not in _NOTICED:
        _NOTICED.add(mode)
        sys.stderr.write(f"lava-sleep: backend loihi2 without lava-loihi: the Loihi-native network runs "
                         f"on Lava's CPU simulator (Loihi2SimCfg, {mode} models)\n")


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
        if len(params_list) != 1 or len(seeds) != 1:
            raise BackendError(f"the loihi2 backend simulates one network (B = 1), got B = {len(seeds)}")
        hardware = lava_loihi_available()
        if hardware and mode != "fixed":  # pragma: no cover - needs lava-loihi
            raise BackendError("Loihi 2 hardware runs fixed point only (--mode fixed)")
        if not hardware:
            _loihi2_notice(mode)
        return LoihiNativeSimulator(params_list[0], seeds[0], mode=mode, hardware=hardware)
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

        sp = self.params.sleep
        start = self.t
        used = 0
        while True:
            n = min(sp.steps_to_settlement(used, start + used), planned - used)
            if record:
                n = min(n, REC_PIPE)
            self._chunk(n, learn, record, True, rec, planned if before is not None and used == 0 else 0)
            if rec is not None:
                rec["asleep"].extend([True] * n)
            used += n
            self.t += n
            if used != planned and not sp.settles(used, planned, start + used):
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


def _csr_var_values(var, mask: np.ndarray) -> np.ndarray:
    """Dense values of a csr Var (e.g. a learning connection's weights) whose stored entries are
    exactly the True entries of ``mask`` in row-major order, read from the runtime buffer (not
    with ``Var.get``, which rebuilds the matrix from the nonzero entries of the Var's initial
    value and so misplaces values whenever an entry was initially 0). BackendError when the
    buffer does not hold one value per entry of the mask (the model changed the structure)."""
    while var.aliased_var is not None:
        var = var.aliased_var
    buf = np.asarray(var.process.runtime.get_var(var.id, None), dtype=np.float64).ravel()
    if buf.size != int(mask.sum()):
        raise BackendError(f"Lava's {var.name} holds {buf.size} entries for {int(mask.sum())} synapses: "
                           "the connection's structure changed")
    out = np.zeros(mask.shape)
    out[mask] = buf
    return out


class LoihiNativeSimulator:
    """The Loihi-native variant: Lava's LIF, Sparse / LearningSparse and SleepGatedLIF, with the
    on-chip sleep as a term of the learning rule (lava_sleep.processes.loihi_native).

    B = 1. Each :meth:`run` builds the network for the steps of that call (wake steps, and the
    sleep episodes of the schedule, known in advance because the on-chip form has no early
    wake-up), runs it and reads its state back; the next call builds it again from that state.
    What carries over: weights, structural masks, u and v, the pathways' pending drive, the pre
    traces (learning pathways) and post traces (learning populations), and the counters (global
    step, wake step, episode, sleep steps). ``learn=False`` builds static Sparse pathways (weights
    frozen, traces not advanced). ``hardware=True`` compiles for Loihi 2 (needs lava-loihi);
    otherwise Lava's CPU simulator (``Loihi2SimCfg``) runs the same Processes.
    """

    batch = 1

    def __init__(self, params: ModelParams, seed: int, mode: str = "float", hardware: bool = False):
        from lava_sleep.processes.loihi_native.process import initial_state, native_constants

        if params.network.n_inh < 1:
            raise BackendError("the Loihi-native variant needs at least one inhibitory neuron")
        if hardware and not lava_loihi_available():
            raise BackendError(f"hardware runs need lava-loihi ({LOIHI_MODULE}), which is not installed")
        sp = params.sleep
        if sp.fraction > 0 and sp.site != "onchip":
            raise BackendError("backend loihi2 runs only the on-chip sleep: convert the SleepParams with "
                               "SleepParams.onchip() (CLI: --sleep-site onchip)")
        if sp.fraction > 0 and not params.stdp.learn_in_sleep:
            raise BackendError("backend loihi2 learns in sleep only (stdp.learn_in_sleep = true)")
        if sp.fraction > 0 and sp.block % params.stdp.t_epoch:
            raise BackendError("backend loihi2 needs sleep.block a multiple of stdp.t_epoch")
        self.params, self.seed, self.mode, self.hardware = params, int(seed), mode, hardware
        self.fixed = mode == "fixed"
        self.init = build_network(params, self.seed)
        self.consts = native_constants(params, self.init, mode)
        self.state = initial_state(params, self.init, self.consts)
        for n in PATHWAY_NAMES:
            self.state[f"mask_{n}"] = self.init.masks[n].copy()
        self.t = self.wake_t = self.n_episodes = self.sleep_steps_total = 0

    def _run_config(self):
        from lava.magma.core import run_configs

        tag = "floating_pt" if self.mode == "float" else "fixed_pt"
        cfg = run_configs.Loihi2HwCfg if self.hardware else run_configs.Loihi2SimCfg
        return cfg(select_tag=tag, select_sub_proc_model=True)

    def _check_b(self, b: int) -> None:
        if b != 0:
            raise BackendError(f"backend loihi2 holds one network; member {b} does not exist")

    def _magnitudes_from(self, w: dict) -> dict:
        dtype = np.int64 if self.fixed else np.float64
        return {n: np.abs(np.asarray(w[n], dtype=np.float64)).astype(dtype) for n in PATHWAY_NAMES}

    @staticmethod
    def _dense(x) -> np.ndarray:
        return np.asarray(x.todense()) if hasattr(x, "todense") else np.asarray(x)

    def _weights_of(self, net, name: str) -> np.ndarray:
        """Dense (post, pre) weights of learning pathway ``name`` read from the runtime.

        Lava's ``Var.get`` rebuilds a csr Var from the *nonzero* entries of its initial value, so
        a synapse that exists with weight 0 (an explicit entry) shifts every later value; the
        network stores an explicit entry on every synapse of the mask in csr (row-major) order
        (and the models keep them: processes/loihi_native/models.py), so the runtime's buffer is
        read against the mask instead. Only learning pathways are read: a static ``Sparse``
        cannot change its weights, and Lava's fixed ``Sparse`` model drops its zero entries
        (``truncate_weights`` calls ``eliminate_zeros``), so its buffer does not match the mask.
        """
        mask = self.state[f"mask_{name}"]
        return _csr_var_values(getattr(net, f"w_{name}"), mask)

    def _plan(self, n_img: int, sleeping: bool):
        """Per step of the call: asleep (bool), wake step index (-1 asleep) and the episodes
        (k, offset, planned)."""
        sp, slot = self.params.sleep, self.params.input.slot_steps
        asleep, wake_idx, episodes = [], [], []
        n_ep = self.n_episodes
        for w in range(self.wake_t, self.wake_t + n_img * slot):
            asleep.append(False)
            wake_idx.append(w)
            if sleeping and (w + 1) % sp.period == 0:
                n_ep += 1
                planned = sp.episode_length(n_ep)
                if planned > 0:
                    episodes.append((n_ep, len(asleep), planned))
                    asleep += [True] * planned
                    wake_idx += [-1] * planned
        return np.array(asleep, dtype=bool), np.array(wake_idx), episodes, n_ep

    def run(self, images, learn: bool = True, sleep_on: bool = True, record_spikes: bool = False,
            progress=None) -> BatchOutput:
        """Present ``images`` ((n, n_input) or (1, n, n_input) uint8), each for steps_per_image
        wake steps and rest_steps empty ones, with the sleep schedule when ``sleep_on`` and the
        fraction > 0 (needs ``learn``); continues from the previous call's state."""
        from lava.magma.core.run_conditions import RunSteps

        from lava_sleep.processes.loihi_native.process import LoihiEINetwork, input_raster, noise_raster

        images = np.asarray(images)
        if images.ndim == 3:
            if images.shape[0] != 1:
                raise BackendError("backend loihi2 simulates one network (B = 1)")
            images = images[0]
        p = self.params
        sleeping = sleep_on and p.sleep.fraction > 0
        if sleeping and not learn:
            raise BackendError("backend loihi2 sleeps only while learning (learn=False needs sleep_on=False)")
        n_img = len(images)
        spi, slot = p.input.steps_per_image, p.input.slot_steps
        sizes = p.sizes()
        asleep, wake_idx, episodes, n_ep = self._plan(n_img, sleeping)
        steps = len(asleep)
        wake_raster = input_raster(p, self.seed, images, wake_t0=self.wake_t) if n_img else \
            np.zeros((p.n_input, 0), dtype=bool)
        raster = np.zeros((p.n_input, steps), dtype=bool)
        raster[:, ~asleep] = wake_raster
        t_after = self.t + 1 + np.arange(steps)
        pulse = (asleep & (t_after % p.sleep.block == 0)).astype(float) if sleeping else np.zeros(steps)
        noise = noise_raster(p, self.seed, self.consts, self.t, asleep)
        out_episodes = []
        if steps:
            net = LoihiEINetwork(params=p, seed=self.seed, input_spikes=raster, mode=self.mode,
                                 init=self.init,
                                 decay_pulse=pulse, noise=noise, learn=learn, state=self.state,
                                 consts=self.consts, t0=self.t)
            plastic = [n for n in p.network.plastic_pathways if learn]
            cfg = self._run_config()

            def totals():
                m = {n: np.abs(self._weights_of(net, n)).sum() for n in plastic}
                return {n: float(m[n]) if n in m else float(np.abs(self.state[f"w_{n}"]).sum())
                        for n in PATHWAY_NAMES}

            try:
                done = 0
                for k, off, planned in episodes:
                    if off > done:
                        net.run(condition=RunSteps(num_steps=off - done), run_cfg=cfg)
                    before = totals()
                    net.run(condition=RunSteps(num_steps=planned), run_cfg=cfg)
                    done = off + planned
                    out_episodes.append({
                        "episode": k, "start_step": self.t + off, "wake_step": int(wake_idx[off - 1]) + 1,
                        "planned": planned, "used": planned, "woke_early": False,
                        "totals_before": before, "totals_after": totals()})
                if steps > done:
                    net.run(condition=RunSteps(num_steps=steps - done), run_cfg=cfg)
                spikes = {q: self._dense(getattr(net, f"spikes_{q}").get()) != 0 for q in ("E", "I")}
                new = dict(self.state)
                for n in PATHWAY_NAMES:
                    if learn and n in self.consts.rules:  # static pathways keep their weights
                        new[f"w_{n}"] = np.where(self.state[f"mask_{n}"], self._weights_of(net, n), 0.0)
                    new[f"abuf_{n}"] = self._dense(getattr(net, f"abuf_{n}").get()).astype(np.float64)
                    if learn and n in self.consts.rules:
                        new[f"x1_{n}"] = self._dense(getattr(net, f"x1_{n}").get()).astype(np.float64)
                for q in ("E", "I"):
                    for var in ("u", "v"):
                        new[f"{var}_{q}"] = self._dense(getattr(net, f"{var}_{q}").get()).astype(np.float64)
                    if learn and q in self.consts.post:
                        new[f"y1_{q}"] = self._dense(getattr(net, f"y1_{q}").get()).astype(np.float64)
            finally:
                net.stop()
            self.state = new
        else:
            spikes = {q: np.zeros((sizes[q], 0), dtype=bool) for q in ("E", "I")}
        wake_cols = np.flatnonzero(~asleep)
        e_wake = spikes["E"][:, wake_cols].T.reshape(n_img, slot, -1)
        counts = e_wake[:, :spi].sum(axis=1).astype(np.int64)
        activity = np.zeros((2, sizes["X"] + sizes["E"] + sizes["I"]), dtype=np.int64)
        for row, cols in ((0, ~asleep), (1, asleep)):
            activity[row] = np.concatenate([raster[:, cols].sum(1), spikes["E"][:, cols].sum(1),
                                            spikes["I"][:, cols].sum(1)])
        sleep_steps = int(asleep.sum())
        self.t += steps
        self.wake_t += n_img * slot
        self.n_episodes = n_ep
        self.sleep_steps_total += sleep_steps
        if progress is not None:
            progress(n_img)
        rec = None
        if record_spikes:
            rec = [{"X": raster.T.copy(), "E": spikes["E"].T.copy(), "I": spikes["I"].T.copy(),
                    "asleep": asleep.copy()}]
        return BatchOutput(counts=counts[None], episodes=[out_episodes], spikes=rec,
                           steps=np.array([steps]), sleep_steps=np.array([sleep_steps]),
                           activity=activity[None])

    def sleep(self, steps, learn: bool = True, record_spikes: bool = False) -> BatchOutput:
        """No on-demand sleep: always a BackendError."""
        raise BackendError("backend loihi2 has no on-demand sleep")

    def magnitudes(self, b: int = 0) -> dict[str, np.ndarray]:
        """Weight magnitudes per pathway (float weight units, or integer LSB in fixed mode)."""
        self._check_b(b)
        return self._magnitudes_from({n: self.state[f"w_{n}"] for n in PATHWAY_NAMES})

    def weights(self, b: int = 0) -> dict[str, np.ndarray]:
        """Signed weights in weight units (fixed: integer weights times the pathway LSB)."""
        self._check_b(b)
        if not self.fixed:
            return {n: self.state[f"w_{n}"].astype(np.float64).copy() for n in PATHWAY_NAMES}
        fc = to_fixed(self.params)
        return {n: self.state[f"w_{n}"].astype(np.float64) * fc.pathways[n].lsb for n in PATHWAY_NAMES}

    def masks(self, b: int = 0) -> dict[str, np.ndarray]:
        """The structural masks (LearningSparse keeps them: absent synapses never grow)."""
        self._check_b(b)
        return {n: self.state[f"mask_{n}"].copy() for n in PATHWAY_NAMES}

    def _scales(self):
        """(voltage scale to the oracle's units, {pathway: pre-trace impulse}, {pop: post impulse})."""
        from lava_sleep.fixed import synaptic_gain

        vs = 1.0 if self.fixed else synaptic_gain(self.params)
        xi = {n: float(r.x1_impulse) for n, r in self.consts.rules.items()}
        yi = {q: float(pt.impulse) for q, pt in self.consts.post.items()}
        if self.fixed:  # traces in counts of trace_impulse, as the oracle's fixed traces
            ti = self.params.stdp.trace_impulse
            xi = {n: v / ti for n, v in xi.items()}
            yi = {q: v / ti for q, v in yi.items()}
        return vs, xi, yi

    def state_dict(self, b: int = 0) -> dict[str, np.ndarray]:
        """ReferenceSimulator.state_dict keys. u, v in the oracle's units (float: mV relative to
        v_rest, i.e. Lava's value times the synaptic gain); a = 0 (no adaptation); pending = the
        summed pending drive; x_<pop> / y_<pop>: the learning engine's traces divided by their
        impulse (0 where no learning pathway keeps them); acc_* = 0 (t_epoch updates are applied
        by the engine)."""
        self._check_b(b)
        st, p = self.state, self.params
        dtype = np.int64 if self.fixed else np.float64
        sizes = p.sizes()
        vs, xi, yi = self._scales()
        d = {"u": np.concatenate([st["u_E"], st["u_I"]]) * vs,
             "v": np.concatenate([st["v_E"], st["v_I"]]) * vs}
        d["a"] = np.zeros(sizes["E"] + sizes["I"])
        d["pending"] = np.concatenate([st["abuf_XE"] + st["abuf_EE"] + st["abuf_IE"], st["abuf_EI"]])
        d["counters"] = np.array([self.t, self.wake_t, self.n_episodes, self.sleep_steps_total])
        for q in ("X", "E", "I"):
            src = [n for n in self.consts.rules if n[0] == q and xi[n] > 0]
            d[f"x_{q}"] = st[f"x1_{src[0]}"] / xi[src[0]] if src else np.zeros(sizes[q])
        for q in ("E", "I"):
            d[f"y_{q}"] = st[f"y1_{q}"] / yi[q] if yi.get(q, 0) > 0 else np.zeros(sizes[q])
        for n, m in self.magnitudes().items():
            d[f"m_{n}"] = m
            d[f"mask_{n}"] = st[f"mask_{n}"].copy()
        for n in p.network.plastic_pathways:
            d[f"acc_{n}"] = np.zeros(st[f"mask_{n}"].shape)
        out = {}
        for k, v in d.items():
            v = np.asarray(v)
            out[k] = (v if k.startswith("mask_") or k == "counters"
                      else (np.rint(v) if self.fixed else v).astype(dtype))
        return out

    def load_state_dict(self, b: int, d) -> None:
        """Load a state (ReferenceSimulator.state_dict keys; the inverse of :meth:`state_dict`):
        weights, masks, u, v, pending drive (as the X->E and E->I pathways' buffers), traces and
        counters. The next :meth:`run` builds the network from it."""
        self._check_b(b)
        p = self.params
        sizes = p.sizes()
        n_e = sizes["E"]
        vs, xi, yi = self._scales()
        st = dict(self.state)
        for n in PATHWAY_NAMES:
            mask = np.asarray(d[f"mask_{n}"]).astype(bool)
            st[f"mask_{n}"] = mask
            m = np.asarray(d[f"m_{n}"], dtype=np.float64)
            st[f"w_{n}"] = np.where(mask, p.network.pathway(n).sign * m, 0.0)
            st[f"abuf_{n}"] = np.zeros(mask.shape[0])
        u, v, pend = (np.asarray(d[k], dtype=np.float64) for k in ("u", "v", "pending"))
        st["u_E"], st["u_I"] = u[:n_e] / vs, u[n_e:] / vs
        st["v_E"], st["v_I"] = v[:n_e] / vs, v[n_e:] / vs
        st["abuf_XE"], st["abuf_EI"] = pend[:n_e].copy(), pend[n_e:].copy()
        for n in self.consts.rules:
            st[f"x1_{n}"] = np.asarray(d[f"x_{n[0]}"], dtype=np.float64) * xi[n]
        for q in ("E", "I"):
            st[f"y1_{q}"] = np.asarray(d[f"y_{q}"], dtype=np.float64) * yi.get(q, 0.0)
        self.t, self.wake_t, self.n_episodes, self.sleep_steps_total = (int(c) for c in d["counters"])
        self.state = st

    def close(self) -> None:
        """Nothing to release: every run stops its runtime."""
