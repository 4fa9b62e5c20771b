"""TorchSimulator: B independent networks at once, float64 / float32 / integer, CPU or CUDA.

The engine implements the :class:`lava_sleep.backends.BatchSimulator` interface (``run``,
``sleep`` - an on-demand episode -, ``weights``, ``masks``, ``state_dict``) with two
interchangeable implementations that hold the state as torch tensors and compute the model
of docs/model.md exactly as the NumPy oracle (:mod:`lava_sleep.reference`) does:

* ``"native"`` (default on CPU): a compiled C kernel (:mod:`lava_sleep.kernels.native`,
  driven by :mod:`lava_sleep.engine.native`) that runs the complete wake/sleep loop per
  member, event-driven, one thread per core;
* ``"torch"`` (default on CUDA, and the CPU fallback without a C compiler): batched tensor
  programs (:mod:`lava_sleep.engine.lockstep`) that advance all members one step at a time,
  each in its own phase (awake, asleep, finished) by per-member masks, reusing the kernels
  of :mod:`lava_sleep.kernels` unchanged.

Every member starts from exactly the oracle's initial state for its (params, seed): the
engine builds a :class:`~lava_sleep.reference.ReferenceSimulator` per member, copies its
state and constants (decay targets, initial totals) and drops it.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from lava_sleep.kernels import encode
from lava_sleep.kernels.native import MemberConsts
from lava_sleep.params import PATHWAY_NAMES, ModelParams
from lava_sleep.reference import ReferenceSimulator, check_sleep_steps
from lava_sleep.simulation import BackendError, BatchOutput

IMPLS = ("auto", "native", "torch")
DTYPES = {"float64": (torch.float64, np.float64), "float32": (torch.float32, np.float32)}


def check_device(device) -> torch.device:
    """The torch device named by ``device`` ("cpu", "cuda", "cuda:N"); a name torch does not
    know, CUDA where none is available, or a CUDA index beyond the devices present is one
    BackendError line."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise BackendError(f"bad torch device {device!r}: {exc}") from None
    if dev.type not in ("cpu", "cuda"):
        raise BackendError(f"device must be cpu or cuda, got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(f"device {device!r} requested but CUDA is not available here")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise BackendError(f"device {device!r} does not exist: this machine has {n} CUDA "
                               f"device(s) (cuda:0 .. cuda:{n - 1})")
    return dev


def _check_members(params_list, seeds) -> None:
    if len(params_list) != len(seeds) or not seeds:
        raise BackendError("params_list and seeds must be non-empty and of equal length")
    p0 = params_list[0]
    for b, p in enumerate(params_list):
        if not isinstance(p, ModelParams):
            raise BackendError(f"params_list[{b}] is not a ModelParams")
        if dataclasses.replace(p, sleep=p0.sleep) != p0:
            raise BackendError(
                f"batch member {b} differs from member 0 outside SleepParams; a batch may vary only "
                "the sleep settings and the seed (run other configurations as separate batches)")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= int(s) < 2**32:
            raise BackendError(f"seed {s!r} must be an integer in [0, 2**32)")


class TorchSimulator:
    """Batched engine; see the module docstring and docs/engine.md.

    Args:
        params_list: one :class:`ModelParams` per member; members may differ only in their
            :class:`SleepParams` (fraction, period, lam, form, target, ...).
        seeds: one seed per member, integers in [0, 2**32).
        mode: "float" or "fixed" (the integer model of lava_sleep.fixed, bit-exact with the
            oracle's fixed mode).
        dtype: "float64" or "float32" (float mode only).
        device: "cpu" or a CUDA device ("cuda", "cuda:1").
        impl: "auto" (native C kernel on CPU when a C compiler exists, else torch), "native"
            (CPU only) or "torch".
        threads: worker threads of the native path (default torch.get_num_threads()).
        compile: run the pure torch path's tick under torch.compile (C++ kernels on the CPU,
            Triton on CUDA; bit-exact with the eager path in fixed point, spike-exact in
            float64): None (default) compiles on CUDA only; True also on the CPU (with impl
            "auto", the torch path is then chosen); the first call of a new configuration
            compiles for tens of seconds (inductor's cache makes later processes faster).
            With None, a failed compilation warns once and the tick runs eagerly; with True it
            raises. Setting it with impl "native" is a BackendError.
    """

    def __init__(self, params_list: list[ModelParams], seeds: list[int], mode: str = "float",
                 dtype: str = "float64", device: str = "cpu", impl: str = "auto",
                 threads: int | None = None, compile: bool | None = None):
        _check_members(params_list, seeds)
        if mode not in ("float", "fixed"):
            raise BackendError(f"mode must be 'float' or 'fixed', got {mode!r}")
        if dtype not in DTYPES:
            raise BackendError(f"dtype must be float64 or float32, got {dtype!r}")
        if impl not in IMPLS:
            raise BackendError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.device = check_device(device)
        if compile and impl == "native":
            raise BackendError("compile=True compiles the pure torch path; impl='native' has no tick "
                               "to compile")
        self.compile = self.device.type == "cuda" if compile is None else bool(compile)
        self.compile_auto = compile is None
        self.mode, self.fixed = mode, mode == "fixed"
        self.dtype_name = dtype
        if self.fixed:
            self.torch_dtype, self.np_dtype = torch.int64, np.int64
        else:
            self.torch_dtype, self.np_dtype = DTYPES[dtype]
        self.params_list = list(params_list)
        self.params0 = params_list[0]
        self.seeds = [int(s) for s in seeds]
        self.batch = len(self.seeds)
        sizes = self.params0.sizes()
        self.sizes = (sizes["X"], sizes["E"], sizes["I"])
        self.shapes = {n: (sizes[n[1]], sizes[n[0]]) for n in PATHWAY_NAMES}  # (post, pre)
        self.members: list[MemberConsts] = []
        init_states = []
        for p, s in zip(self.params_list, self.seeds, strict=True):
            self._check_floor(p)
            ref = ReferenceSimulator(p, s, mode=mode, dtype=self.np_dtype)
            self.members.append(MemberConsts.from_reference(ref))
            init_states.append(ref.state_dict())
            del ref
        self.impl_name = self._choose_impl(impl)
        if self.impl_name == "native":
            from lava_sleep.engine.native import NativeImpl

            self._impl = NativeImpl(self, threads=threads)
        else:
            from lava_sleep.engine.lockstep import LockstepImpl

            self._impl = LockstepImpl(self)
        for b, d in enumerate(init_states):
            self._impl.load_state_dict(b, d)

    def _check_floor(self, p: ModelParams, sleeps: bool = False) -> None:
        """A sleep floor above a plastic pathway's w_max is refused for members that sleep (on
        their schedule, or ``sleeps``: on demand)."""
        if (sleeps or p.sleep.fraction > 0) and p.sleep.w_floor > 0:
            for pw in p.network.pathways:
                if pw.plastic and p.sleep.w_floor > pw.w_max:
                    raise BackendError(
                        f"SleepParams.w_floor = {p.sleep.w_floor} exceeds w_max = {pw.w_max} of {pw.name}")

    def _choose_impl(self, impl: str) -> str:
        from lava_sleep.kernels import native

        if impl == "native" or (impl == "auto" and self.device.type == "cpu" and not self.compile):
            if self.device.type != "cpu":
                raise BackendError("impl='native' runs on the CPU only; use impl='torch' for CUDA")
            try:
                native.load("fixed" if self.fixed else self.dtype_name)
                return "native"
            except native.NativeBuildError as exc:
                if impl == "native":
                    raise BackendError(f"the native kernel is unavailable: {exc}") from None
                warnings.warn(f"lava_sleep engine: native kernel unavailable ({exc}); using the "
                              "slower pure torch path", RuntimeWarning, stacklevel=3)
        return "torch"

    # -- BatchSimulator interface -------------------------------------------------------------
    def run(self, images, learn: bool = True, sleep_on: bool = True, record_spikes: bool = False,
            progress=None) -> BatchOutput:
        """Present ``images`` ((n, n_input) shared, or (B, n, n_input) per member) uint8.

        Each image is shown for steps_per_image wake steps, then rest_steps wake steps without
        input, per member; sleep episodes are interleaved per member by its own schedule.
        Returns E spike counts per image (presentation steps), the sleep episodes that ended,
        spike totals per neuron and phase (activity) and spikes of every step when requested.
        progress(k) is called with the number of images finished, summed over members.
        """
        images = np.asarray(images)
        nx = self.sizes[0]
        if images.ndim not in (2, 3) or images.shape[-1] != nx:
            raise ValueError(f"images must have shape (n, {nx}) or (B, n, {nx}), got {images.shape}")
        if images.ndim == 3 and images.shape[0] != self.batch:
            raise ValueError(f"per-member images need a leading batch axis of {self.batch}, "
                             f"got {images.shape[0]}")
        inp = self.params0.input
        flat = images.reshape(-1, nx)
        thr = encode.input_thresholds(flat, inp.max_rate_hz, self.params0.neuron.dt).reshape(images.shape)
        counts, episodes, spikes, steps, sleep_steps, activity = self._impl.run(
            thr, bool(learn), bool(sleep_on), bool(record_spikes), progress)
        return BatchOutput(counts=counts, episodes=episodes, spikes=spikes, steps=steps,
                           sleep_steps=sleep_steps, activity=activity)

    def sleep(self, steps, learn: bool = True, record_spikes: bool = False) -> BatchOutput:
        """One on-demand sleep episode per member, starting now (docs/model.md, "On-demand sleep
        episodes").

        ``steps``: planned length, an int for every member or a sequence of B ints, each >= 0
        (0: the member does nothing); anything else is a ValueError. Each member with steps > 0
        runs exactly one episode as its schedule would (gate closed, sleep noise, STDP iff
        ``learn`` and learn_in_sleep, decay blocks, floor/prune, early wake-up, with its own
        SleepParams, also when its fraction is 0); the schedule's episode counter is unchanged.
        Returns counts of shape (B, 0, n_exc), one episode record per sleeping member
        (episode 0), steps and sleep_steps used, sleep activity (row 1), spikes when recording.
        """
        planned = check_sleep_steps(steps, self.batch)
        for b, n in enumerate(planned):
            if n > 0:
                self._check_floor(self.params_list[b], sleeps=True)
        counts, episodes, spikes, steps_, sleep_steps, activity = self._impl.sleep(
            np.array(planned, dtype=np.int64), bool(learn), bool(record_spikes))
        return BatchOutput(counts=counts, episodes=episodes, spikes=spikes, steps=steps_,
                           sleep_steps=sleep_steps, activity=activity)

    def weights(self, b: int = 0) -> dict[str, np.ndarray]:
        """Signed float64 weights (post, pre) of member b (fixed: dequantized)."""
        out = {}
        for name in PATHWAY_NAMES:
            sign = self.params0.network.pathway(name).sign
            m = self._impl.magnitudes(b, name).astype(np.float64)
            if self.fixed:
                m = m * self.members[b].fc.pathways[name].lsb
            out[name] = sign * m
        return out

    def masks(self, b: int = 0) -> dict[str, np.ndarray]:
        return {name: self._impl.mask_of(b, name) for name in PATHWAY_NAMES}

    def state_dict(self, b: int = 0) -> dict[str, np.ndarray]:
        """Member b's complete state with the keys and dtypes of ReferenceSimulator.state_dict."""
        return self._impl.state_dict(b)

    def load_state_dict(self, b: int, d) -> None:
        self._impl.load_state_dict(b, d)

    def totals(self, b: int = 0) -> dict[str, float]:
        return {n: float(self._impl.magnitudes(b, n).sum()) for n in PATHWAY_NAMES}

    def close(self) -> None:
        """Release worker threads (also done when the object is garbage-collected)."""
        close = getattr(self._impl, "close", None)
        if close is not None:
            close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
