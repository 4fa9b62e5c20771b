"""Sleep Process for any Lava network: schedule, homeostatic decay, gates and noise (MODEL.md 4).

:class:`SleepController` manages a list of weight matrices - the ``weights`` Var of Lava's
``Dense``, ``LearningDense``, ``Sparse``, ``LearningSparse`` or of our
:class:`~lava_sleep.processes.plastic_dense.process.PlasticDense` - and makes no other
assumption about the network. Every step it broadcasts a small control vector
(``ctrl_out``, layout ``CTRL_*``) to whatever listens: spike gates
(:class:`~lava_sleep.processes.spike_gate.process.SpikeGate`), noise sources
(:class:`~lava_sleep.processes.noise_source.process.NoiseSource`), our neurons, encoder and
plastic synapses:

* ``asleep``    - 1 during a sleep episode: gates silence their spike streams, noise sources
  (and our neurons) switch to their sleep noise;
* ``learn``     - STDP on/off for this step (always on without a host);
* ``record``    - our populations stream their spikes to the host (off without a host);
* ``image_end`` - this wake step is the last presentation step of an image (``steps_per_image``;
  0: never): our E population sends the image's spike counts;
* ``rest``      - this wake step is a rest step of an image slot (``rest_steps`` after every
  ``steps_per_image`` presentation steps): our encoder's input gate is closed and no spikes
  are counted, while everything else runs as awake;
* ``slot_end``  - this wake step is the last one of an image slot (presentation plus rest):
  our plastic synapses with ``normalize`` rescale their rows after it (while learning).

Schedule (identical to the oracle, lava_sleep.reference): after every ``period``-th wake
step, episode k lasts ``SleepParams.episode_length(k)`` steps. The decay is settled at block
ends (every ``block`` sleep steps and at the episode's last step) in the management phase,
after learning: the Process reads each managed matrix through a RefPort (``ref_w_<i>``),
applies :func:`lava_sleep.kernels.sleep.decay_block` and
:func:`~lava_sleep.kernels.sleep.floor_and_prune` to the magnitudes ``|w|`` (K-step factor
``lam**K``, all target modes, log/linear forms, per-synapse noise or stochastic rounding keyed
by (seed, DECAY + stream, step + 1, synapse)), writes ``sign * |w|`` back (and the mask of a
PlasticDense through ``ref_mask_<i>`` when pruning removed synapses), then checks early
wake-up (every managed total within ``tol`` of its initial total).

Synapses: a Sparse matrix's absent entries and the zeros of a mask stay absent (weight 0);
without a mask, a Dense matrix's present synapses are its nonzero initial weights. A signed
weight keeps its sign (that of its initial value where it is 0). Magnitude bounds ``w_min``,
``w_max`` and the floor are in the Var's own units (integer weight units in fixed point).

Host links (used by :class:`~lava_sleep.processes.ei_network.process.EINetwork`, ``host=True``):
``cmd_in`` receives one command per host run chunk (layout ``CMD_*``; ``CMD_SLEEP_NOW`` starts an
on-demand sleep episode of that many planned steps at the chunk's first step, run as a scheduled
one but not counted by the schedule; its status carries no totals before the episode, which the
Process cannot read before that step's learning: NaN, the host reads them) and ``status_out`` sends
one status vector (layout ``STATUS_*``, :func:`status_size`) at every sleep block end: whether
the episode is over, sleep steps used, early wake-up, the episode's first global step, and
the managed totals before and after the episode. Without a host the Process runs on its own:
learning on, sleep schedule on, nothing recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_sleep.errors import SleepWeightError
from lava_sleep.params import PATHWAY_NAMES, SleepParams

#: Control vector broadcast every step (int32, 1 bit each).
CTRL_ASLEEP, CTRL_LEARN, CTRL_RECORD, CTRL_IMAGE_END, CTRL_REST, CTRL_SLOT_END = range(6)
CTRL_SIZE = 6
#: Host command, one per run chunk (float64): steps in the chunk, learn, record, sleep schedule on,
#: and the planned length of an on-demand sleep episode that starts at the chunk's first step
#: (0: none; the schedule's episode counter is not advanced by it).
CMD_STEPS, CMD_LEARN, CMD_RECORD, CMD_SLEEP_ON, CMD_SLEEP_NOW = range(5)
CMD_SIZE = 5
#: Status at every sleep block end (float64): 4 header values, then the n managed totals
#: before the episode, then the n totals after this block (managed order).
STATUS_OVER, STATUS_USED, STATUS_WOKE, STATUS_START = range(4)
STATUS_TOTALS_BEFORE = 4
#: Most weight matrices one Process manages: its models declare this many RefPorts, and the
#: random streams DECAY + i (i < 16) must stay below the next stream (rng.Stream.SPLIT).
MAX_WEIGHTS = 16
#: Magnitude bound of a fixed-point Lava weight without ``w_max`` (8-bit magnitude, sign apart).
FIXED_W_MAX = 255


def status_size(n_weights: int) -> int:
    """Length of the status vector of a Process managing ``n_weights`` matrices."""
    return STATUS_TOTALS_BEFORE + 2 * n_weights


def status_totals_after(n_weights: int) -> int:
    """Index of the first 'total after' entry of the status vector."""
    return STATUS_TOTALS_BEFORE + n_weights


class Managed(NamedTuple):
    """One weight matrix for :class:`SleepController`, with optional settings.

    Args:
        var: the ``weights`` Var (or the Process holding it: Dense, LearningDense, Sparse,
            LearningSparse, PlasticDense).
        mask: present synapses (post, pre) bool; default: a Sparse matrix's stored entries,
            a PlasticDense's mask, else the nonzero initial weights.
        w_min, w_max: magnitude bounds after each decay block, in the Var's units
            (default 0 and unbounded; fixed point: 255).
        floor: magnitude floor (default ``SleepParams.w_floor``; fixed: rounded to an integer).
    """

    var: object
    mask: object = None
    w_min: float | None = None
    w_max: float | None = None
    floor: float | None = None


class WeightSpec(NamedTuple):
    """What a model needs to know about one managed matrix (pure data, no Lava objects).

    kind: "signed" (a Lava weight matrix: sign and magnitude in one value) or "magnitude"
    (a PlasticDense: magnitudes >= 0 and a mask Var). ``m0``/``m0_fixed``: initial magnitudes
    as the float / fixed models hold them (``m0_fixed`` None where the Var is not integral).
    ``bounds``/``bounds_fixed``: (m_min, m_max, m_floor). ``stream``: the decay stream offset.
    (NamedTuples, not dataclasses: Lava executes this file as a stand-alone module, where
    dataclasses cannot resolve their module.)
    """

    name: str
    stream: int
    shape: tuple
    kind: str
    sparse: bool
    mask: np.ndarray
    sign0: np.ndarray | None
    m0: np.ndarray
    m0_fixed: np.ndarray | None
    bounds: tuple
    bounds_fixed: tuple | None


def _var_init(var) -> np.ndarray | None:
    init = var.init
    if hasattr(init, "toarray"):
        return np.asarray(init.toarray(), dtype=np.float64)
    try:
        arr = np.asarray(init, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return np.broadcast_to(arr, var.shape).copy() if arr.ndim == 0 and var.shape else arr


def _plastic_spec(proc, i: int, sleep: SleepParams) -> WeightSpec:
    """Spec of a PlasticDense: magnitudes (float, and quantized as the fixed model holds them)."""
    from lava_sleep.fixed import quantize_weights, to_fixed

    p = proc.proc_params
    params, n = p["params"], p["pathway"]
    mask = np.asarray(p["mask"], dtype=bool)
    m0 = np.asarray(p["weights"], dtype=np.float64)
    fc = to_fixed(params)
    pf = fc.pathways[n]
    pw = params.network.pathway(n)
    return WeightSpec(
        name=n, stream=PATHWAY_NAMES.index(n), shape=mask.shape, kind="magnitude", sparse=False,
        mask=mask, sign0=None, m0=m0, m0_fixed=np.where(mask, quantize_weights(m0, pf), 0),
        bounds=(pw.w_min, pw.w_max, sleep.w_floor), bounds_fixed=(pf.m_min, pf.m_max, pf.m_floor))


def resolve_weights(weights, sleep: SleepParams) -> tuple[list, list[WeightSpec]]:
    """(weight Vars, specs) for the ``weights`` argument of :class:`SleepController`.

    Raises SleepWeightError (one line) for anything that is not a 2-D weight matrix or has a
    mask or bound of the wrong shape, and for more than MAX_WEIGHTS matrices.
    """
    from lava_sleep.processes.plastic_dense.process import PlasticDense

    if isinstance(weights, (Var, AbstractProcess, Managed)):
        weights = [weights]
    weights = list(weights)
    if len(weights) > MAX_WEIGHTS:
        raise SleepWeightError(f"sleep: at most {MAX_WEIGHTS} weight matrices per Process, "
                               f"got {len(weights)}")
    vars_, specs, seen = [], [], set()
    for i, item in enumerate(weights):
        opts = item if isinstance(item, Managed) else Managed(item)
        obj = opts.var
        what = f"sleep: weights[{i}]"
        if isinstance(obj, PlasticDense) or (isinstance(obj, Var) and isinstance(obj.process, PlasticDense)
                                             and obj.name == "weights"):
            proc = obj if isinstance(obj, PlasticDense) else obj.process
            if any(v is not None for v in (opts.mask, opts.w_min, opts.w_max, opts.floor)):
                raise SleepWeightError(f"{what} is a PlasticDense: its mask and bounds come from its params")
            var, spec = proc.weights, _plastic_spec(proc, i, sleep)
        else:
            if isinstance(obj, AbstractProcess):
                if not isinstance(getattr(obj, "weights", None), Var):
                    raise SleepWeightError(f"{what}: Process {type(obj).__name__} has no 'weights' Var")
                obj = obj.weights
            if not isinstance(obj, Var):
                raise SleepWeightError(f"{what} is a {type(obj).__name__}, not a Lava Var or Process")
            var = obj
            owner = type(var.process).__name__ if var.process is not None else "no Process"
            if var.name != "weights" or len(var.shape) != 2:
                raise SleepWeightError(f"{what}: Var '{var.name}' of {owner} (shape {var.shape}) is not a "
                                       "weight matrix (the 2-D 'weights' Var of a connection Process)")
            spec = _lava_spec(var, i, opts, sleep, what)
        if var.id in seen:
            raise SleepWeightError(f"{what}: the same Var is managed twice")
        seen.add(var.id)
        vars_.append(var)
        specs.append(spec)
    return vars_, specs


def _lava_spec(var, i: int, opts: Managed, sleep: SleepParams, what: str) -> WeightSpec:
    """Spec of a Lava weight matrix (signed values as Lava stores them)."""
    w0 = _var_init(var)
    if w0 is None or w0.shape != tuple(var.shape):
        raise SleepWeightError(f"{what}: Var '{var.name}' has no numeric initial matrix of shape {var.shape}")
    sparse = hasattr(var.init, "tocoo")
    if opts.mask is not None:
        mask = np.asarray(opts.mask)
        if mask.shape != w0.shape:
            raise SleepWeightError(f"{what}: mask shape {mask.shape} does not match the weights' {w0.shape}")
        mask = mask.astype(bool)
    elif sparse:
        coo = var.init.tocoo()
        mask = np.zeros(w0.shape, dtype=bool)
        mask[coo.row, coo.col] = True
    else:
        mask = w0 != 0
    if sparse and (mask & ~_stored(var)).any():
        raise SleepWeightError(f"{what}: the mask names synapses that the Sparse matrix does not store")
    m0 = np.where(mask, np.abs(w0), 0.0)
    integral = bool(np.all(w0 == np.round(w0)))
    w_min = 0.0 if opts.w_min is None else float(opts.w_min)
    floor = sleep.w_floor if opts.floor is None else float(opts.floor)
    w_max = math.inf if opts.w_max is None else float(opts.w_max)
    if not 0 <= w_min <= w_max:
        raise SleepWeightError(f"{what}: need 0 <= w_min <= w_max, got w_min={w_min}, w_max={w_max}")
    fixed_max = FIXED_W_MAX if opts.w_max is None else int(math.floor(w_max))
    return WeightSpec(
        name=f"{type(var.process).__name__ if var.process is not None else 'Var'}[{i}]", stream=i,
        shape=w0.shape, kind="signed", sparse=sparse, mask=mask,
        sign0=np.where(w0 < 0, -1.0, 1.0), m0=m0,
        m0_fixed=m0.astype(np.int64) if integral else None,
        bounds=(w_min, w_max, floor),
        bounds_fixed=(int(math.ceil(w_min)), fixed_max, int(round(floor))))


def _stored(var) -> np.ndarray:
    coo = var.init.tocoo()
    out = np.zeros(var.shape, dtype=bool)
    out[coo.row, coo.col] = True
    return out


def check_fixed(specs) -> None:
    """SleepWeightError unless every managed matrix holds integers (fixed-point models)."""
    bad = [s.name for s in specs if s.m0_fixed is None]
    if bad:
        raise SleepWeightError(f"sleep: fixed-point model on float-valued weights {bad} "
                               "(run with floating_pt, or give integer weights)")


class SleepController(AbstractProcess):
    """Wake/sleep schedule, homeostatic decay of any weight matrices, gate and noise switch.

    Args:
        weights: the matrices to manage (at most MAX_WEIGHTS): ``weights`` Vars, Processes
            holding one (Dense, LearningDense, Sparse, LearningSparse, PlasticDense), or
            :class:`Managed` entries with a mask or bounds.
        sleep: schedule and decay (``SleepParams``: fraction, period, lam, form, target,
            decay_noise, block, w_floor, prune, tol). Fixed-point models use the linear form.
        seed: seed of the decay's random streams.
        gates: Processes with a ``ctrl_in`` port that silence spikes while asleep (SpikeGate).
        noise: Processes with a ``ctrl_in`` port that switch to sleep noise (NoiseSource,
            our AdaptiveLIF).
        host: take commands from the host (``cmd_in``) instead of running on its own.
        steps_per_image: presentation steps per image for the ``image_end``, ``rest`` and
            ``slot_end`` bits (0: never set).
        rest_steps: rest steps after each image's presentation (``rest`` bit; image slot =
            steps_per_image + rest_steps wake steps).
        decay_frac_bits: fractional bits of the fixed-point decay factor.

    Ports:
        cmd_in (CMD_SIZE,): host command per run chunk (``host=True`` only).
        ctrl_out (CTRL_SIZE,): control vector, every step.
        status_out (status_size(n),): sleep status at every block end.
        ref_w_<i>, ref_mask_<i>: RefPorts to managed matrix i (and a PlasticDense's mask);
            the unused ones (i >= n) stay unconnected.
    """

    def __init__(self, *, weights, sleep: SleepParams, seed: int, gates: Sequence = (),
                 noise: Sequence = (), host: bool = False, steps_per_image: int = 0,
                 rest_steps: int = 0, decay_frac_bits: int = 24, name: str | None = None):
        if not isinstance(sleep, SleepParams):
            raise SleepWeightError(f"sleep: 'sleep' must be a SleepParams, got {type(sleep).__name__}")
        vars_, specs = resolve_weights(weights, sleep)
        super().__init__(specs=specs, sleep=sleep, seed=int(seed), host=bool(host),
                         steps_per_image=int(steps_per_image), rest_steps=int(rest_steps),
                         decay_frac_bits=int(decay_frac_bits), name=name)
        self.n_weights = len(specs)
        self.cmd_in = InPort(shape=(CMD_SIZE,))
        self.ctrl_out = OutPort(shape=(CTRL_SIZE,))
        self.status_out = OutPort(shape=(status_size(len(specs)),))
        for i in range(MAX_WEIGHTS):
            shape = specs[i].shape if i < len(specs) else (1,)
            setattr(self, f"ref_w_{i}", RefPort(shape=shape))
            setattr(self, f"ref_mask_{i}", RefPort(shape=shape))
        for i, (var, spec) in enumerate(zip(vars_, specs, strict=True)):
            getattr(self, f"ref_w_{i}").connect_var(var)
            if spec.kind == "magnitude":
                getattr(self, f"ref_mask_{i}").connect_var(var.process.mask)
        for proc in list(gates) + list(noise):
            port = getattr(proc, "ctrl_in", None)
            if not isinstance(port, InPort) or port.shape != (CTRL_SIZE,):
                raise SleepWeightError(f"sleep: {type(proc).__name__} has no ctrl_in port of shape "
                                       f"({CTRL_SIZE},) (use SpikeGate / NoiseSource)")
            self.ctrl_out.connect(port)

    # The compiler assigns the selected ProcessModel here, on the host, before any Lava process
    # starts: a fixed-point model on float-valued weights is refused now (one line), not in a
    # forked worker (whose failure would leave Lava's runtime unable to stop).
    @property
    def _model_class(self):
        return self.__dict__.get("_sleep_model_class")

    @_model_class.setter
    def _model_class(self, cls):
        if cls is not None and getattr(cls, "FIXED", False):
            check_fixed(self.proc_params["specs"])
        self.__dict__["_sleep_model_class"] = cls

    def __del__(self):
        if "_runtime" in self.__dict__:  # not after a refused construction
            super().__del__()

    @property
    def names(self) -> list[str]:
        """Names of the managed matrices (status order)."""
        return [s.name for s in self.proc_params["specs"]]
