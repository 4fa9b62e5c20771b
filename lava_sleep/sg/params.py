"""Parameters of the surrogate-gradient SNN baseline (docs/sg.md).

:class:`SGParams` is frozen and validated like :mod:`lava_sleep.params`: an
invalid value raises :class:`~lava_sleep.params.ParamError` naming the field,
the value and the allowed range. Presets: :func:`sg_preset` ("paper", "quick").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from lava_sleep.params import ParamError, _check_range


@dataclass(frozen=True)
class SGParams:
    """Surrogate-gradient SNN: input (P) -> LIF hidden -> LIF output, trained with Adam.

    Time is counted in network time steps (one step per Bernoulli input frame);
    membrane potentials are in units of the firing threshold's scale (dimensionless).

    Attributes:
        hidden: hidden LIF neurons. Range [1, 100000]. Paper: 1000.
        n_classes: output LIF neurons (one per class); labels must lie in
            [0, n_classes). Range [2, 1000]. Paper: 10.
        steps: time steps each image is presented (training and evaluation).
            Range [1, 10000]. Paper: 25.
        epochs: passes over the training images. Range [1, 10000]. Paper: 10.
        batch_size: images per training iteration (the last batch of an epoch may be
            smaller). Range [1, 100000]. Paper: 128.
        lr: Adam learning rate. Range (0, 1].
        adam_betas: Adam's (beta1, beta2), each in [0, 1).
        beta: membrane decay per time step, U <- beta * U + input - reset. Range (0, 1).
        threshold: firing threshold; a neuron spikes when U > threshold and the
            threshold is subtracted on the next step (reset by subtraction). Range (0, 100].
        surrogate_slope: slope k of the fast-sigmoid surrogate derivative
            dS/dU = 1 / (1 + k |U - threshold|)**2 (per threshold unit). Range (0, 1000].
        max_rate: spike probability per time step of a white pixel (intensity 255);
            pixel j spikes with probability intensity_j / 255 * max_rate per step
            (the STDP network's Bernoulli encoder, integer-exact). Range (0, 1].
        sigma_sleep: standard deviation of the Gaussian noise added to every hidden
            membrane per time step during sleep (threshold units). Range [0, 100].
        sleep_period: wake training iterations between sleep episodes (replaces
            SleepParams.period, which counts STDP wake steps). Range [1, 10**9].
        sleep_batch: noise-driven samples simulated in parallel per sleep iteration
            (activity statistics only; see docs/sg.md). Range [1, 100000].
        eval_batch: images per forward pass in evaluation (does not change results,
            only memory and speed). Range [1, 100000].
    """

    hidden: int = 1000
    n_classes: int = 10
    steps: int = 25
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    adam_betas: tuple[float, float] = (0.9, 0.999)
    beta: float = 0.95
    threshold: float = 1.0
    surrogate_slope: float = 25.0
    max_rate: float = 1.0
    sigma_sleep: float = 0.3
    sleep_period: int = 50
    sleep_batch: int = 32
    eval_batch: int = 512

    def __post_init__(self):
        _check_range(self, "hidden", 1, 100000, integer=True)
        _check_range(self, "n_classes", 2, 1000, integer=True)
        _check_range(self, "steps", 1, 10000, integer=True)
        _check_range(self, "epochs", 1, 10000, integer=True)
        _check_range(self, "batch_size", 1, 100000, integer=True)
        _check_range(self, "lr", 0, 1, lo_open=True)
        betas = self.adam_betas
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in betas)
                or not all(0.0 <= b < 1.0 for b in betas)):
            raise ParamError(f"SGParams.adam_betas = {betas!r} is out of range; "
                             "allowed two numbers in [0, 1)")
        _check_range(self, "beta", 0, 1, lo_open=True, hi_open=True)
        _check_range(self, "threshold", 0, 100, lo_open=True)
        _check_range(self, "surrogate_slope", 0, 1000, lo_open=True)
        _check_range(self, "max_rate", 0, 1, lo_open=True)
        _check_range(self, "sigma_sleep", 0, 100)
        _check_range(self, "sleep_period", 1, 10**9, integer=True)
        _check_range(self, "sleep_batch", 1, 100000, integer=True)
        _check_range(self, "eval_batch", 1, 100000, integer=True)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adam_betas"] = list(self.adam_betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: SGParams | None = None) -> SGParams:
        """Build from a (possibly partial) dict on top of ``base`` (default: paper values)."""
        base = base or SGParams()
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ParamError(f"unknown SG parameter(s) {sorted(unknown)}; known {sorted(names)}")
        values = {**asdict(base), **d}
        if isinstance(values.get("adam_betas"), list):
            values["adam_betas"] = tuple(values["adam_betas"])
        return cls(**values)


def paper() -> SGParams:
    """The paper's baseline: 1000 hidden LIF neurons, 10 classes, 25 steps, 10 epochs, Adam."""
    return SGParams()


def quick() -> SGParams:
    """Smaller, faster: 300 hidden, 15 steps, 8 epochs, batch 64 (a 2,000-image run
    takes well under a minute on 2 CPU cores)."""
    return SGParams(hidden=300, steps=15, epochs=8, batch_size=64, lr=2e-3, sleep_period=10,
                    sleep_batch=16)


SG_PRESETS = {"paper": paper, "quick": quick}


def sg_preset(name: str) -> SGParams:
    """Named SG preset: "paper" or "quick"."""
    try:
        return SG_PRESETS[name]()
    except KeyError:
        raise ParamError(f"unknown SG preset {name!r}; choose one of {sorted(SG_PRESETS)}") from None
