"""The only place a simulation backend is selected.

Every backend simulates a *batch* of B independent networks (B >= 1) that share
the network shape; each member has its own seed and its own ``ModelParams``
(backends may require members to differ only in sleep settings). The common
interface (:class:`BatchSimulator`):

* ``run(images, learn=True, sleep_on=True, record_spikes=False, progress=None)``
  presents ``images`` (n, n_input) uint8 (the same stream to every member) or
  (B, n, n_input); returns a :class:`BatchOutput`. State (membranes, traces,
  weights, counters) carries over between calls.
* ``sleep(steps, learn=True, record_spikes=False)`` runs one on-demand sleep episode now, per
  member, of planned length ``steps`` (an int for every member, or B ints; 0: that member does
  nothing; anything else is a ValueError): exactly a scheduled episode with the member's own
  SleepParams (also with fraction 0), recorded as episode 0; the schedule's episode counter is
  unchanged (docs/model.md, "On-demand sleep episodes"). Returns a :class:`BatchOutput` with
  counts of shape (B, 0, n_exc). ``loihi2`` has none (BackendError).
* ``weights(b)`` -> {pathway: signed float64 (post, pre)}; ``masks(b)`` -> {pathway: bool}.
* ``state_dict(b)`` / ``load_state_dict(b, d)`` (the keys of
  :meth:`lava_sleep.reference.ReferenceSimulator.state_dict`).

Backends: ``numpy`` (the oracle, float or fixed), ``torch`` (batched engine,
device and dtype options), ``lava-float`` / ``lava-fixed`` (Lava graph models),
``lava-float-fused`` / ``lava-fixed-fused`` (the fused Lava model) and ``loihi2``
(the Loihi-native variant with the on-chip sleep: Loihi 2 with lava-loihi, else Lava's CPU
simulator; B = 1).
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

from lava_sleep.params import ModelParams
from lava_sleep.reference import ReferenceSimulator, check_sleep_steps
from lava_sleep.simulation import BACKEND_MODES, BACKENDS, BackendError, BatchOutput, resolve_mode

__all__ = ["BACKENDS", "BACKEND_MODES", "BackendError", "BatchOutput", "NumpyBatch", "make_simulator",
           "resolve_mode"]

class NumpyBatch:
    """The oracle as a batch: B independent ReferenceSimulators."""

    def __init__(self, params_list, seeds, mode="float", dtype=np.float64):
        self.sims = [ReferenceSimulator(p, s, mode=mode, dtype=dtype)
                     for p, s in zip(params_list, seeds, strict=True)]
        self.batch = len(self.sims)

    def run(self, images, learn=True, sleep_on=True, record_spikes=False, progress=None):
        images = np.asarray(images)
        outs = []
        for b, sim in enumerate(self.sims):
            imgs = images[b] if images.ndim == 3 else images
            cb = None
            if progress is not None:
                offset = b * len(imgs)

                def cb(i, offset=offset):
                    progress(offset + i)
            outs.append(sim.run(imgs, learn=learn, sleep_on=sleep_on,
                                record_spikes=record_spikes, progress=cb))
        return self._batch_output(outs, record_spikes)

    def sleep(self, steps, learn=True, record_spikes=False):
        """One on-demand sleep episode per member (ReferenceSimulator.sleep); ``steps`` an int
        or one int per member (0: nothing)."""
        planned = check_sleep_steps(steps, self.batch)
        outs = [sim.sleep(n, learn=learn, record_spikes=record_spikes)
                for sim, n in zip(self.sims, planned, strict=True)]
        return self._batch_output(outs, record_spikes)

    @staticmethod
    def _batch_output(outs, record_spikes):
        return BatchOutput(
            counts=np.stack([o.counts for o in outs]),
            episodes=[o.episodes for o in outs],
            spikes=[o.spikes for o in outs] if record_spikes else None,
            steps=np.array([o.steps for o in outs]),
            sleep_steps=np.array([o.sleep_steps for o in outs]),
            activity=np.stack([o.activity for o in outs]),
        )

    def weights(self, b: int = 0):
        return {n: self.sims[b].signed_weights(n) for n in self.sims[b].m}

    def masks(self, b: int = 0):
        return {n: m.copy() for n, m in self.sims[b].mask.items()}

    def state_dict(self, b: int = 0):
        return self.sims[b].state_dict()

    def load_state_dict(self, b: int, d):
        self.sims[b].load_state_dict(d)


def make_simulator(backend: str, params_list: list[ModelParams], seeds: list[int], *,
                   mode: str | None = None, dtype: str = "float64", device: str = "cpu"):
    """Create a batch simulator.

    backend: one of BACKENDS. mode: "float" or "fixed" (torch: "fixed" is its integer
    mode); None takes the mode the backend's name fixes (lava-fixed: fixed), else float; a
    contradiction is a BackendError (:func:`lava_sleep.simulation.resolve_mode`).
    dtype: "float64" or "float32" (float mode). device: torch device.
    """
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    mode = resolve_mode(backend, mode)
    if len(params_list) != len(seeds) or not seeds:
        raise ValueError("params_list and seeds must be non-empty and of equal length")
    if dtype not in ("float64", "float32"):
        raise BackendError(f"dtype must be float64 or float32, got {dtype!r}")
    if backend == "numpy":
        return NumpyBatch(params_list, seeds, mode=mode, dtype=np.dtype(dtype).type)
    if backend == "torch":
        try:
            from lava_sleep.engine import TorchSimulator
        except ImportError as exc:  # pragma: no cover - torch is a dependency
            raise BackendError(f"the torch backend needs torch: {exc}") from None
        return TorchSimulator(params_list, seeds, mode=mode, dtype=dtype, device=device)
    if not lava_available():
        raise BackendError(lava_missing_message(backend))
    try:
        from lava_sleep import lava_backend
    except ImportError as exc:
        raise BackendError(f"backend {backend!r} is not available: {exc}") from None
    return lava_backend.make(backend, params_list, seeds, mode=mode, dtype=dtype)


def lava_available() -> bool:
    """True when lava-nc can be imported here (it installs on Python 3.10 only)."""
    try:
        return importlib.util.find_spec("lava.magma") is not None
    except (ImportError, ValueError):  # no package "lava" at all
        return False


def lava_missing_message(backend: str) -> str:
    """The one line a Lava backend gives where lava-nc is missing (e.g. on Python 3.11+)."""
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (f"backend {backend!r} needs Python 3.10 with lava-nc 0.10 (lava-nc supports only "
            f"Python >=3.10,<3.11; this is Python {py} without it): use --backend numpy or torch, "
            "or the Python 3.10 environment that `make demo` / `make test` set up (.venv)")
