"""Parameter dataclasses: paper defaults, validation, TOML round trip, presets, sleep schedule."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import pytest

from lava_sleep import params as P
from lava_sleep.errors import UserError

# -- paper defaults (MODEL.md 1-4; docs/model.md "Populations, weights, signs") --------------


def test_paper_population_sizes():
    p = P.paper()
    assert p.input.image_size == 15
    assert p.n_input == 225
    assert p.sizes() == {"X": 225, "E": 200, "I": 50}
    assert p.network.n_inh * 4 == p.network.n_exc


@pytest.mark.parametrize(
    ("name", "prob", "w_init", "w_max", "plastic", "sign"),
    [
        ("XE", 0.10, 0.15, 1.0, True, 1),
        ("EE", 0.15, 0.3, 1.0, True, 1),
        ("EI", 0.20, 0.6, 1.5, False, 1),
        ("IE", 0.25, -0.5, 1.5, False, -1),
    ],
)
def test_paper_pathways(name, prob, w_init, w_max, plastic, sign):
    pw = P.paper().network.pathway(name)
    assert (pw.p, pw.w_init, pw.w_max, pw.w_min) == (prob, w_init, w_max, 0.0)
    assert pw.plastic is plastic
    assert pw.sign == sign
    assert (pw.pre, pw.post) == (name[0], name[1])


def test_paper_pathway_order_and_plastic_set():
    net = P.paper().network
    assert tuple(pw.name for pw in net.pathways) == ("XE", "EE", "EI", "IE")
    assert net.plastic_pathways == ("XE", "EE")
    with pytest.raises(KeyError):
        net.pathway("XI")


def test_paper_neuron_values():
    n = P.paper().neuron
    assert (n.dt, n.tau_syn, n.tau_m, n.r_m) == (1.0, 30.0, 30.0, 30.0)
    assert (n.v_rest, n.v_reset, n.v_thresh) == (-70.0, -80.0, -55.0)
    assert (n.v_min, n.v_max) == (-100.0, 40.0)
    assert (n.tau_a, n.delta_a) == (100.0, 3.0)
    assert (n.theta_min, n.theta_max) == (-90.0, 0.0)
    assert n.sigma_wake == 2.0


def test_paper_sleep_and_stdp_values():
    p = P.paper()
    assert p.sleep.lam == 0.99997
    assert p.sleep.fraction == 0.0  # no sleep unless asked for
    assert p.sleep.tol == 0.01  # docs/model.md: default tol 1 %
    assert p.stdp.trace_bits == 7
    assert p.fixed.w_bits == 8


# -- validation: every validated field rejects out-of-range values ---------------------------

BAD_VALUES = [
    (P.InputParams, {}, "image_size", 1),
    (P.InputParams, {}, "image_size", 65),
    (P.InputParams, {}, "image_size", 4.5),
    (P.InputParams, {}, "image_size", True),
    (P.InputParams, {}, "max_rate_hz", 0.0),
    (P.InputParams, {}, "max_rate_hz", 1000.5),
    (P.InputParams, {}, "max_rate_hz", math.nan),
    (P.InputParams, {}, "max_rate_hz", math.inf),
    (P.InputParams, {}, "max_rate_hz", "fast"),
    (P.InputParams, {}, "steps_per_image", 0),
    (P.InputParams, {}, "steps_per_image", 100001),
    (P.NeuronParams, {}, "dt", 0.0),
    (P.NeuronParams, {}, "dt", 10.5),
    (P.NeuronParams, {}, "tau_syn", 0.5),
    (P.NeuronParams, {}, "tau_m", 2e4),
    (P.NeuronParams, {}, "tau_a", 0.5),
    (P.NeuronParams, {}, "r_m", 0.0),
    (P.NeuronParams, {}, "r_m", -1.0),
    (P.NeuronParams, {}, "v_rest", 250.0),
    (P.NeuronParams, {}, "v_max", -80.0),
    (P.NeuronParams, {}, "v_min", -60.0),
    (P.NeuronParams, {}, "v_reset", -50.0),
    (P.NeuronParams, {}, "v_thresh", 45.0),
    (P.NeuronParams, {}, "theta_min", -50.0),
    (P.NeuronParams, {}, "theta_max", -60.0),
    (P.NeuronParams, {}, "delta_a", -1.0),
    (P.NeuronParams, {}, "delta_a", 101.0),
    (P.NeuronParams, {}, "sigma_wake", -0.1),
    (P.NeuronParams, {}, "sigma_wake", 51.0),
    (P.NeuronParams, {}, "sigma_sleep", 51.0),
    (P.NeuronParams, {}, "bias", 51.0),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "name", "XI"),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "p", -0.1),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "p", 1.1),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "w_max", 0.0),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "w_max", 17.0),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "w_min", -0.1),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "w_min", 1.0),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "w_init", 2.0),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "w_init", -0.1),
    (P.PathwayParams, {"name": "IE", "p": 0.1, "w_init": -0.1}, "w_init", 0.5),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "w_init_jitter", 1.5),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "plastic", 1),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "rule", "hebb"),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "eta_plus", 2.0),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "eta_minus", -0.5),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "mu", 3.0),
    (P.PathwayParams, {"name": "XE", "p": 0.1, "w_init": 0.1}, "alpha", 11.0),
    (P.NetworkParams, {}, "n_exc", 0),
    (P.NetworkParams, {}, "n_inh", -1),
    (P.NetworkParams, {}, "n_exc", 10.0),
    (P.STDPParams, {}, "tau_plus", 0.5),
    (P.STDPParams, {}, "tau_minus", 1001.0),
    (P.STDPParams, {}, "t_epoch", 0),
    (P.STDPParams, {}, "t_epoch", 65),
    (P.STDPParams, {}, "learn_in_sleep", "yes"),
    (P.STDPParams, {}, "trace_bits", 2),
    (P.STDPParams, {}, "trace_bits", 17),
    (P.STDPParams, {}, "trace_impulse", 0),
    (P.STDPParams, {}, "trace_impulse", 128),
    (P.SleepParams, {}, "fraction", -0.1),
    (P.SleepParams, {}, "fraction", 0.96),
    (P.SleepParams, {}, "period", 0),
    (P.SleepParams, {}, "lam", 0.0),
    (P.SleepParams, {}, "lam", 1.5),
    (P.SleepParams, {}, "form", "exp"),
    (P.SleepParams, {}, "target", "global"),
    (P.SleepParams, {}, "decay_noise", 2.0),
    (P.SleepParams, {}, "block", 0),
    (P.SleepParams, {}, "w_floor", 2.0),
    (P.SleepParams, {}, "prune", "no"),
    (P.SleepParams, {}, "tol", 1.5),
    (P.FixedParams, {}, "w_bits", 1),
    (P.FixedParams, {}, "w_bits", 9),
    (P.FixedParams, {}, "v_frac_bits", 5),
    (P.FixedParams, {}, "v_frac_bits", 17),
    (P.FixedParams, {}, "dw_frac_bits", 3),
    (P.FixedParams, {}, "dw_frac_bits", 25),
    (P.FixedParams, {}, "decay_frac_bits", 15),
    (P.FixedParams, {}, "decay_frac_bits", 31),
]


@pytest.mark.parametrize(("cls", "base", "field", "value"), BAD_VALUES,
                         ids=[f"{c.__name__}.{f}={v!r}" for c, _, f, v in BAD_VALUES])
def test_bad_value_rejected_naming_field_and_value(cls, base, field, value):
    with pytest.raises(P.ParamError) as info:
        cls(**{**base, field: value})
    msg = str(info.value)
    assert f"{cls.__name__}.{field}" in msg
    assert repr(value) in msg
    assert "\n" not in msg
    # ParamError is both a ValueError and a UserError (one line on the CLI)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (P.SleepParams, {"fraction": 0.95, "lam": 1.0, "tol": 0.0, "block": 10000}),
        (P.InputParams, {"image_size": 28, "max_rate_hz": 1000.0}),
        (P.InputParams, {"image_size": 2}),
        (P.STDPParams, {"trace_bits": 3, "trace_impulse": 7}),
        (P.FixedParams, {"w_bits": 2, "v_frac_bits": 6, "dw_frac_bits": 24, "decay_frac_bits": 30}),
        (P.NetworkParams, {"n_exc": 1, "n_inh": 0}),
    ],
)
def test_boundary_values_accepted(cls, kwargs):
    obj = cls(**kwargs)
    for k, v in kwargs.items():
        assert getattr(obj, k) == v


def test_network_pathway_order_enforced():
    pws = P.paper().network.pathways
    with pytest.raises(P.ParamError, match="pathways"):
        P.NetworkParams(pathways=(pws[1], pws[0], pws[2], pws[3]))
    with pytest.raises(P.ParamError, match="pathways"):
        P.NetworkParams(pathways=pws[:3])


def test_params_are_frozen():
    p = P.paper()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.sleep.fraction = 0.5  # type: ignore[misc]


def test_with_pathway_and_sleep_fraction():
    p = P.paper()
    net = p.network.with_pathway("EE", eta_plus=0.02)
    assert net.pathway("EE").eta_plus == 0.02
    assert net.pathway("XE") == p.network.pathway("XE")
    assert p.network.pathway("EE").eta_plus == 0.01  # original untouched
    q = p.with_sleep_fraction(0.3)
    assert q.sleep.fraction == 0.3 and q.network == p.network
    with pytest.raises(P.ParamError):
        p.with_sleep_fraction(0.99)


def test_check_fixed():
    p = P.paper()
    p.check_fixed()  # no sleep: the log form does not matter
    slept = p.with_sleep_fraction(0.2)
    with pytest.raises(P.ParamError, match="form"):
        slept.check_fixed()
    dataclasses.replace(slept, sleep=dataclasses.replace(slept.sleep, form="linear")).check_fixed()
    soft = dataclasses.replace(p, network=p.network.with_pathway("XE", mu=0.5))
    with pytest.raises(P.ParamError, match="mu"):
        soft.check_fixed()
    dataclasses.replace(p, network=p.network.with_pathway("XE", mu=1.0)).check_fixed()


# -- presets --------------------------------------------------------------------------------


def test_presets():
    assert P.preset("paper") == P.paper() == P.ModelParams()
    q = P.preset("quick")
    assert q.sizes() == {"X": 100, "E": 100, "I": 25}
    assert q.input.steps_per_image == 150
    assert q.network.pathways == P.paper().network.pathways
    with pytest.raises(P.ParamError, match="unknown preset 'huge'"):
        P.preset("huge")


# -- TOML ---------------------------------------------------------------------------------------


def _modified() -> P.ModelParams:
    p = P.quick()
    return dataclasses.replace(
        p,
        network=p.network.with_pathway("IE", plastic=True, rule="vogels", alpha=0.35),
        sleep=dataclasses.replace(p.sleep, fraction=0.3, form="linear", target="group", prune=True),
        stdp=dataclasses.replace(p.stdp, t_epoch=4, learn_in_sleep=False),
    )


@pytest.mark.parametrize("make", [P.paper, P.quick, _modified])
def test_toml_round_trip(tmp_path, make):
    p = make()
    path = tmp_path / "cfg.toml"
    P.save_toml(p, path)
    assert P.load_toml(path) == p
    # a different base must not leak in: the file is complete
    assert P.load_toml(path, base=_modified()) == p


def test_toml_partial_override(tmp_path):
    path = tmp_path / "partial.toml"
    path.write_text(
        "[sleep]\nfraction = 0.2\nperiod = 1000\n\n"
        "[network]\nn_exc = 40\n\n"
        "[network.pathways.EE]\neta_plus = 0.02\n"
    )
    p = P.load_toml(path)
    expect = P.paper()
    expect = dataclasses.replace(
        expect,
        sleep=dataclasses.replace(expect.sleep, fraction=0.2, period=1000),
        network=dataclasses.replace(expect.network.with_pathway("EE", eta_plus=0.02), n_exc=40),
    )
    assert p == expect
    # on top of another base
    q = P.load_toml(path, base=P.quick())
    assert q.input == P.quick().input and q.sleep.period == 1000 and q.network.n_inh == 25


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[bogus]\nx = 1\n", "bogus"),
        ("[sleep]\nfractoin = 0.2\n", "fractoin"),
        ("[network.pathways.XI]\np = 0.1\n", "XI"),
        ("[network.pathways.EE]\nweight = 0.1\n", "weight"),
        ("[network]\nsize = 3\n", "size"),
        ("[network.pathways.EE]\nname = 'XE'\n", "name"),
        ("sleep = 3\n", "sleep"),
        ("[sleep]\nfraction = 2.0\n", "fraction"),
        ("[sleep]\nperiod = 'often'\n", "period"),
        ("[sleep\nfraction = 0.1\n", "not valid TOML"),
    ],
)
def test_toml_rejects_bad_files(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(P.ParamError, match=needle):
        P.load_toml(path)


def test_toml_missing_file(tmp_path):
    with pytest.raises(P.ParamError, match="not found"):
        P.load_toml(tmp_path / "nope.toml")


# -- the sleep schedule (docs/model.md "Sleep": episode k lasts round(kP) - round((k-1)P)) --------


def _exact_p(fraction: float, period: int) -> Fraction:
    """P = period * f / (1 - f) in exact rationals of the decimal fraction."""
    f = Fraction(repr(fraction))
    return f / (1 - f) * period


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95])
@pytest.mark.parametrize("period", [1, 3, 7, 100, 333, 3500])
def test_episode_lengths_sum_to_rounded_total(fraction, period):
    sp = P.SleepParams(fraction=fraction, period=period)
    p_exact = _exact_p(fraction, period)
    total = 0
    for k in range(1, 301):
        n = sp.episode_length(k)
        # each episode is floor(P) or ceil(P) long
        assert math.floor(p_exact) <= n <= math.ceil(p_exact)
        total += n
        assert total == _round_half_up(k * p_exact), (k, total)


def test_episode_length_ties_round_half_up():
    # f = 0.6, period 1: P = 1.5 exactly, so episode 1 lasts round_half_up(1.5) = 2, episode 2
    # round(3) - round(1.5) = 1, and so on (2, 1, 2, 1, ...).
    sp = P.SleepParams(fraction=0.6, period=1)
    assert [sp.episode_length(k) for k in range(1, 7)] == [2, 1, 2, 1, 2, 1]
    # f = 0.2, period 2: P = 0.5: 1, 0, 1, 0 ...
    sp = P.SleepParams(fraction=0.2, period=2)
    assert [sp.episode_length(k) for k in range(1, 5)] == [1, 0, 1, 0]


def test_episode_length_zero_fraction():
    sp = P.SleepParams(fraction=0.0, period=3500)
    assert all(sp.episode_length(k) == 0 for k in range(1, 50))


@pytest.mark.parametrize(("fraction", "episodes"), [(0.1, 9), (0.2, 1), (0.3, 7), (0.4, 3), (0.5, 1)])
def test_sleep_share_is_exact(fraction, episodes):
    """After a whole number of cycles (K*P integer) the share of sleep steps is exactly f."""
    period = 3500
    sp = P.SleepParams(fraction=fraction, period=period)
    for mult in (1, 2, 50):
        k = episodes * mult
        asleep = sum(sp.episode_length(i) for i in range(1, k + 1))
        assert Fraction(asleep, asleep + k * period) == Fraction(repr(fraction))


def test_large_fractions_do_not_collapse():
    """The authors' code capped episodes so that every f >= 0.286 slept the same (MODEL.md 7)."""
    shares = []
    for f in (0.3, 0.4, 0.5, 0.6, 0.8):
        sp = P.SleepParams(fraction=f, period=3500)
        asleep = sum(sp.episode_length(k) for k in range(1, 1001))
        shares.append(asleep / (asleep + 1000 * 3500))
    assert shares == sorted(shares) and len(set(shares)) == len(shares)
    assert shares == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.8], abs=1e-6)


# -- competitive preset and the features it needs ----------------------------------------------

def test_competitive_preset_values():
    p = P.preset("competitive")
    net = p.network
    assert (net.n_exc, net.n_inh, p.input.image_size) == (200, 200, 15)
    xe = net.pathway("XE")
    assert (xe.p, xe.plastic, xe.rule, xe.normalize, xe.pattern) == (1.0, True, "diehl_cook", True, "random")
    assert net.pathway("EI").pattern == "one_to_one" and net.pathway("IE").pattern == "all_but_self"
    assert net.pathway("EE").p == 0.0
    assert p.input.rest_steps == 150 and p.input.slot_steps == 500
    assert p.neuron.freeze_adaptation and p.neuron.sigma_wake == 0.0
    assert P.preset_epochs("competitive") == 3 and P.preset_epochs("paper") == 1
    fixed, notes = p.fixed_form()  # has a fixed-point form (log decay -> linear, noted)
    assert fixed.sleep.form == "linear" and len(notes) == 1


def test_preset_epochs_unknown_name():
    with pytest.raises(P.ParamError, match="unknown preset"):
        P.preset_epochs("nope")


@pytest.mark.parametrize("tau_a, every, keep", [
    (1e7, 100000, 4055),   # Diehl & Cook's time constant: round(4096 * 0.99005) (docs/model.md)
    (3e5, 10000, 3962),    # the preset's: round(4096 * 0.96722)
    (1e7, 1, 4096),        # per step, 1 - 1e-7 has no 12-bit form: no decay at all
    (100.0, 1, 4055),      # the paper's 100 ms: round(4096 * 0.99) as before
])
def test_adaptation_keep_factor(tau_a, every, keep):
    from lava_sleep.fixed import adaptation_keep_factor

    n = P.NeuronParams(tau_a=tau_a, a_decay_every=every)
    assert adaptation_keep_factor(n) == keep
    assert round(4096 * (1 - 1 / tau_a) ** every) == keep


def test_pattern_needs_equal_sizes():
    net = P.NetworkParams(n_exc=20, n_inh=5)
    with pytest.raises(P.ParamError, match="'one_to_one' of EI needs as many E as I"):
        net.with_pathway("EI", pattern="one_to_one")
    with pytest.raises(P.ParamError, match="X->E must be random"):
        P.NetworkParams(n_exc=225, n_inh=5).with_pathway("XE", pattern="one_to_one")
    with pytest.raises(P.ParamError, match="pattern"):
        P.PathwayParams("IE", p=1.0, w_init=-1.0, pattern="ring")


def test_normalize_needs_plastic():
    with pytest.raises(P.ParamError, match="normalize of EI needs plastic"):
        P.PathwayParams("EI", p=1.0, w_init=1.0, normalize=True)


def test_pattern_masks():
    from lava_sleep.network import build_network

    p = P.ModelParams(input=P.InputParams(image_size=3), network=P.NetworkParams(n_exc=4, n_inh=4))
    p = dataclasses.replace(p, network=p.network.with_pathway("EI", pattern="one_to_one")
                            .with_pathway("IE", pattern="all_but_self"))
    init = build_network(p, seed=5)
    eye = [[i == j for j in range(4)] for i in range(4)]
    assert init.masks["EI"].tolist() == eye
    assert init.masks["IE"].tolist() == [[not v for v in row] for row in eye]
    assert (init.magnitudes["IE"][init.masks["IE"]] > 0).all() and init.magnitudes["IE"].trace() == 0
