"""The on-chip sleep form (``SleepParams.site = "onchip"``, docs/model.md "On-chip sleep").

Hand-derived expectations: with STDP off during sleep, an on-demand episode of L steps that
starts at global step t0 settles the decay exactly at the global steps t in (t0, t0 + L] with
``t % block == 0`` and nowhere else (no settlement at the episode's end), each time with the
constant ``c`` (a Loihi literal), so every existing synapse of a plastic pathway ends at
``t_p + (m0 - t_p) (1 - c)**n`` (float), n the number of such steps. Fixed point rounds each
settlement stochastically: the mean over synapses follows the same law within a few LSB.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep import params as P
from lava_sleep.reference import ReferenceSimulator


@pytest.mark.parametrize(("x", "value"), [(0.0078125, 0.0078125), (-3.0, -3.0), (0.75, 0.75),
                                          (0.01, 0.0078125), (0.00765, 0.0078125), (24.0, 24.0),
                                          (0.3, 0.3125)])
def test_loihi_literal_is_the_nearest_mantissa_times_power_of_two(x, value):
    m, e = P.loihi_literal(x)
    assert 1 <= abs(m) <= P.LITERAL_MANT_MAX and P.LITERAL_EXP_RANGE[0] <= e <= P.LITERAL_EXP_RANGE[1]
    assert m * 2.0**e == value
    assert P.loihi_literal(0.0) == (0, 0)


@pytest.mark.parametrize("x", [1e-12, 0.003, 1e6])
def test_loihi_literal_outside_the_range_is_a_param_error(x):
    with pytest.raises(P.ParamError, match="Loihi learning-rule constant"):
        P.loihi_literal(x)


def test_onchip_settings_are_validated_in_one_line():
    with pytest.raises(P.ParamError, match="form 'linear'.*target 'static'"):
        P.SleepParams(site="onchip")  # the host defaults: log form, neuron target, noise, tol
    with pytest.raises(P.ParamError, match="block a power of two"):
        P.SleepParams().onchip(block=12)
    with pytest.raises(P.ParamError, match="site"):
        P.SleepParams(site="chip")
    sp = P.SleepParams(lam=0.99997).onchip()
    assert (sp.site, sp.block, sp.form, sp.target, sp.tol, sp.decay_noise) == \
        ("onchip", 256, "linear", "static", 0.0, 0.0)
    # 1 - 0.99997**256 = 0.00765 -> 2**-7 (the nearest literal); decay_lam reproduces it per block
    assert P.onchip_rate(sp) == 2.0**-7
    assert sp.decay_lam() ** 256 == pytest.approx(1 - 2.0**-7, rel=1e-14)
    assert [sp.settles(u, 10, t) for u, t in ((1, 255), (2, 256), (10, 300), (3, 512))] == \
        [False, True, False, True]
    host = P.SleepParams(block=10)
    assert [host.settles(u, 25, t) for u, t in ((10, 7), (11, 256), (25, 3))] == [True, False, True]


def _onchip(small_params, block=16, lam=0.995):
    return dataclasses.replace(
        small_params, stdp=dataclasses.replace(small_params.stdp, learn_in_sleep=False),
        sleep=dataclasses.replace(small_params.sleep, lam=lam).onchip(block=block))


@pytest.mark.parametrize("t0_images", [0, 1])
def test_float_episode_settles_only_at_multiples_of_block(small_params, make_images, t0_images):
    params = _onchip(small_params)
    sim = ReferenceSimulator(params, seed=5)
    if t0_images:
        sim.run(make_images(t0_images, params.n_input), sleep_on=False)
    t0, length = sim.t, 75
    m0 = {n: sim.m[n].copy() for n in sim.plastic}
    sim.sleep(length)
    n = sum(1 for t in range(t0 + 1, t0 + length + 1) if t % 16 == 0)
    assert n == (4 if t0 == 0 else len(range((t0 // 16 + 1) * 16, t0 + length + 1, 16)))
    c = P.onchip_rate(params.sleep)
    for name in sim.plastic:
        mask = sim.mask[name]
        target = float(sim.init.magnitudes[name][mask].mean())
        assert sim.decay[name].static_target == pytest.approx(target, rel=1e-12)
        want = np.where(mask, target + (m0[name] - target) * (1 - c) ** n, 0.0)
        np.testing.assert_allclose(sim.m[name], want, rtol=0, atol=1e-12)


def test_fixed_episode_follows_the_same_law_on_average(small_params):
    params = _onchip(small_params, block=8, lam=0.99)
    sim = ReferenceSimulator(params, seed=5, mode="fixed")
    m0 = {n: sim.m[n].astype(np.float64) for n in sim.plastic}
    sim.sleep(64)  # settlements at t = 8, 16, ..., 64
    c = P.onchip_rate(params.sleep)
    for name in sim.plastic:
        mask = sim.mask[name]
        t = sim.decay[name].static_target  # mean initial magnitude, LSB
        want = t + (m0[name][mask] - t) * (1 - c) ** 8
        got = sim.m[name][mask].astype(np.float64)
        # each of the 8 roundings adds a zero-mean error of at most 1 LSB, damped by (1 - c)
        assert np.all(np.abs(got - want) <= 8)
        assert abs((got - want).mean()) <= 4 * np.sqrt(8 / 12 / mask.sum()) + 0.5 / mask.sum()
