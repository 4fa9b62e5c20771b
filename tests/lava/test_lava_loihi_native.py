"""The Loihi-native variant (Lava LIF / Dense / LearningDense) runs on the CPU and learns.

Inputs 0-7 carry bright pixels (at 500 Hz full scale), inputs 8-15 are dark
(never spike). With only
the potentiation term (pre before post) the XE weights of active inputs must
grow, with only the depression term (post before pre) they must shrink, and
weights of silent inputs and of the static pathways must not move.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lava_helpers import LAVA_TIMEOUT, active_params

from lava_sleep.fixed import to_fixed
from lava_sleep.lava_backend import LoihiNativeSimulator
from lava_sleep.params import ParamError

pytestmark = pytest.mark.lava


def _images():
    imgs = np.random.default_rng(3).integers(100, 256, size=(4, 16), dtype=np.uint8)
    imgs[:, 8:] = 0
    return imgs


@pytest.mark.timeout(LAVA_TIMEOUT)
@pytest.mark.parametrize(("mode", "direction"), [("float", "up"), ("float", "down"), ("fixed", "up")])
def test_loihi_native_learns_in_the_right_direction(mode, direction):
    p = active_params(mode)
    # no noise in Lava's LIF: drive E with strong input instead
    p = dataclasses.replace(p, input=dataclasses.replace(p.input, max_rate_hz=500.0))
    eta = {"eta_plus": 0.05, "eta_minus": 0.0} if direction == "up" else {"eta_plus": 0.0, "eta_minus": 0.05}
    p = dataclasses.replace(p, network=p.network.with_pathway("XE", w_init=0.9, **eta)
                            .with_pathway("EE", plastic=False))
    sim = LoihiNativeSimulator(p, 4, mode=mode)
    w0 = {n: m * (1 if n[0] != "I" else -1) for n, m in sim.init.magnitudes.items()}
    out = sim.run(_images())
    w = sim.weights()
    assert out.counts.shape == (1, 4, 20) and out.counts.sum() > 0
    present = sim.init.masks["XE"]
    active, silent = present[:, :8], present[:, 8:]
    d = w["XE"] - (w0["XE"] if mode == "float" else _quantized(sim, "XE"))
    if direction == "up" and mode == "fixed":
        assert d[:, :8][active].sum() > 0
    elif direction == "up":
        assert d[:, :8][active].sum() > 0 and np.all(d[:, :8][active] >= 0)
    else:
        assert d[:, :8][active].sum() < 0 and np.all(d[:, :8][active] <= 0)
    if mode == "float":
        assert np.all(d[:, 8:][silent] == 0)
    else:  # Lava's bit-approximate engine rounds stochastically even a zero update: +-1 LSB
        lsb = to_fixed(p).pathways["XE"].lsb
        assert np.all(np.abs(d[:, 8:][silent]) <= lsb * (1 + 1e-9))
        assert d[:, :8][active].mean() > 2 * lsb  # learning, well above the rounding noise
    for n in ("EE", "EI", "IE"):
        ref = w0[n] if mode == "float" else _quantized(sim, n)
        assert np.allclose(w[n], ref), n
    with pytest.raises(Exception, match="one image stream"):
        sim.run(_images())


def _quantized(sim, name):
    from lava_sleep.fixed import quantize_weights, to_fixed

    pf = to_fixed(sim.params).pathways[name]
    sign = sim.params.network.pathway(name).sign
    return sign * np.where(sim.init.masks[name], quantize_weights(sim.init.magnitudes[name], pf), 0) * pf.lsb


def test_loihi_native_rejects_rules_it_cannot_express():
    from lava_sleep.processes.loihi_native.process import native_constants

    p = active_params()
    p = dataclasses.replace(p, network=p.network.with_pathway("XE", mu=1.0))
    with pytest.raises(ParamError, match="mu = 0"):
        native_constants(p, LoihiNativeSimulator(active_params(), 1).init, "float")


def test_loihi_native_rejects_normalization_and_rests_without_input():
    """Per-image normalization has no LearningDense counterpart (one-line ParamError), and the
    new rule is refused like every rule but stdp; rest steps are empty raster columns."""
    from lava_sleep.processes.loihi_native.process import input_raster, native_constants

    p = active_params()
    init = LoihiNativeSimulator(p, 1).init
    for xe, match in (({"normalize": True}, "normalization"), ({"rule": "diehl_cook"}, "rule 'stdp'")):
        q = dataclasses.replace(p, network=p.network.with_pathway("XE", **xe))
        with pytest.raises(ParamError, match=match) as err:
            native_constants(q, init, "float")
        assert "\n" not in str(err.value)
    q = dataclasses.replace(p, input=dataclasses.replace(p.input, steps_per_image=6, rest_steps=4,
                                                         max_rate_hz=1000.0))
    imgs = np.full((3, 16), 255, dtype=np.uint8)
    raster = input_raster(q, 1, imgs)
    assert raster.shape == (16, 30)
    cols = raster.reshape(16, 3, 10)
    assert not cols[:, :, 6:].any() and cols[:, :, :6].sum() > 100
    # presentation columns use the wake steps of the slots (rest steps advance the counter)
    full = input_raster(dataclasses.replace(q, input=dataclasses.replace(q.input, rest_steps=0,
                                                                          steps_per_image=30)),
                        1, imgs[:1])
    assert np.array_equal(cols[:, 1, :6], full[:, 10:16])


def test_loihi_native_rejects_precision_it_cannot_express(precision_case, with_precision):
    """Every PRECISION_CASES case sets w_scale "full" or a deterministic rounding, which Lava's
    Dense weights (mantissa and exponent) and learning engine (stochastic rounding) cannot take: in
    fixed point one ParamError line names each such setting, also when the simulator runs; each
    setting alone is refused too. Other widths pass, and float runs have no fixed-point settings."""
    from lava_sleep.processes.loihi_native.process import native_constants

    p = active_params("fixed")
    init = LoihiNativeSimulator(p, 1).init
    q = with_precision(p, precision_case)
    names = ("w_scale", "trace_rounding", "dw_rounding")
    bad = {k: getattr(q.fixed, k) for k in names if getattr(q.fixed, k) != getattr(p.fixed, k)}
    assert bad and all(getattr(p.fixed, k) in ("pow2", "stochastic") for k in names)
    with pytest.raises(ParamError, match="Loihi-native variant") as err:
        native_constants(q, init, "fixed")
    assert "\n" not in str(err.value)
    assert all(f"{k} {v!r}" in str(err.value) for k, v in bad.items()), str(err.value)
    with pytest.raises(ParamError, match="Loihi-native variant"):
        LoihiNativeSimulator(q, 1, mode="fixed").run(_images())
    for k, v in bad.items():
        one = dataclasses.replace(p, fixed=dataclasses.replace(p.fixed, **{k: v}))
        with pytest.raises(ParamError, match=f"{k} {v!r}"):
            native_constants(one, init, "fixed")
    native_constants(q, init, "float")
    loihi_like = {k: getattr(p.fixed, k) for k in bad}
    widths = dataclasses.replace(q, fixed=dataclasses.replace(q.fixed, **loihi_like))
    assert widths.fixed.w_bits != p.fixed.w_bits  # the case's widths, Loihi's weight format and rounding
    native_constants(widths, init, "fixed")


def test_loihi_native_has_no_on_demand_sleep():
    from lava_sleep.simulation import BackendError

    with pytest.raises(BackendError, match="^backend loihi2 has no on-demand sleep$"):
        LoihiNativeSimulator(active_params(), 1).sleep(10)
