"""Shared fixtures for the whole test suite (kept small and general)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep import params as P
from lava_sleep.processes import release_fork_context


@pytest.fixture(autouse=True)
def _lava_importable():
    """Tests that import lava directly (not through lava_sleep.processes) after an earlier test
    fixed the multiprocessing start method (torch.compile and tqdm do) would fail at lava's
    import: release the context first (processes/__init__.py)."""
    release_fork_context()


@pytest.fixture
def small_params() -> P.ModelParams:
    """A tiny network: 16 inputs (image_size 4), 20 E, 5 I, 50 steps per image, no sleep.

    Pathway values, neuron and STDP constants are the paper's; only sizes and the
    presentation time are reduced, and the input rate is pinned to 63.75 Hz: the
    equivalence cases built on this fixture were chosen at that rate so that they
    exercise early wake-up after several blocks, full episodes and pruning (the
    default rate, 400 Hz, changes the dynamics and with them which paths a case covers).
    """
    base = P.paper()
    return dataclasses.replace(
        base,
        input=dataclasses.replace(base.input, image_size=4, steps_per_image=50, max_rate_hz=63.75),
        network=dataclasses.replace(base.network, n_exc=20, n_inh=5),
    )


@pytest.fixture
def features_params(small_params):
    """Factory ``features_params(form="linear")``: a small network with all five Diehl & Cook
    features on at once, plus sleep.

    16 inputs, 16 E, 16 I (n_inh == n_exc, so EI can be ``one_to_one`` and IE ``all_but_self``);
    slots of 40 presentation + 15 rest steps at 1000 Hz; dense X->E (p = 1) with the
    ``diehl_cook`` rule (mu 1, x_tar 0.3) and per-image normalization, E->E normalized too; slow
    adaptation decay (``a_decay_every`` 7, small delta_a), frozen in calls with learning off
    (``freeze_adaptation``); sleep with ``form`` and the neuron target every 70 wake steps, so
    episodes start inside presentations and rests and, at wake step 770 (image 14's end), right
    after a normalization.
    """

    def make(form: str = "linear") -> P.ModelParams:
        base = small_params
        net = dataclasses.replace(base.network, n_exc=16, n_inh=16)
        net = net.with_pathway("XE", p=1.0, rule="diehl_cook", mu=1.0, alpha=0.3, eta_plus=0.05,
                               eta_minus=0.002, w_init_jitter=0.5, normalize=True)
        net = net.with_pathway("EE", normalize=True)
        net = net.with_pathway("EI", pattern="one_to_one", w_init=1.5)
        net = net.with_pathway("IE", pattern="all_but_self", w_init=-0.3)
        return dataclasses.replace(
            base, network=net,
            input=dataclasses.replace(base.input, steps_per_image=40, rest_steps=15, max_rate_hz=1000.0),
            neuron=dataclasses.replace(base.neuron, a_decay_every=7, delta_a=0.5, tau_a=500.0,
                                       freeze_adaptation=True),
            sleep=dataclasses.replace(base.sleep, fraction=0.3, period=70, form=form, target="neuron",
                                      block=7, tol=0.0, lam=0.999))

    return make


#: Fixed-point precision cases (docs/model.md "Fixed-point precision"): every width and rounding
#: mode away from its default, in combinations that differ per case. Keys: a case name; values:
#: overrides of FixedParams ("fixed") and STDPParams ("stdp").
PRECISION_CASES = {
    "full_w4_nearest_trace_floor_dw": {
        "fixed": {"w_bits": 4, "w_scale": "full", "dw_frac_bits": 6, "trace_rounding": "nearest",
                  "dw_rounding": "floor", "decay_frac_bits": 18},
        "stdp": {"trace_bits": 5, "trace_impulse": 3}},
    "pow2_w3_floor_trace_nearest_dw": {
        "fixed": {"w_bits": 3, "w_scale": "pow2", "dw_frac_bits": 10, "trace_rounding": "floor",
                  "dw_rounding": "nearest"},
        "stdp": {"trace_bits": 4, "trace_impulse": 2}},
    "full_w2_stochastic": {
        "fixed": {"w_bits": 2, "w_scale": "full", "dw_frac_bits": 8},
        "stdp": {"trace_bits": 3, "trace_impulse": 1}},
}


def pytest_generate_tests(metafunc):
    """A test that takes ``precision_case`` runs once per case of ``PRECISION_CASES`` (use it
    with the ``with_precision`` fixture); here, so that every test folder, tests/lava included,
    shares the one hook."""
    if "precision_case" in metafunc.fixturenames:
        metafunc.parametrize("precision_case", list(PRECISION_CASES))


@pytest.fixture
def with_precision():
    """Factory ``with_precision(params, case)``: ``params`` with the FixedParams and STDPParams
    overrides of ``PRECISION_CASES[case]``."""

    def make(params: P.ModelParams, case: str) -> P.ModelParams:
        c = PRECISION_CASES[case]
        return dataclasses.replace(params, fixed=dataclasses.replace(params.fixed, **c["fixed"]),
                                   stdp=dataclasses.replace(params.stdp, **c["stdp"]))

    return make


@pytest.fixture
def make_images():
    """Factory ``make_images(n, n_pixels, seed=12345)`` of random uint8 test images (n, n_pixels).

    Test data only (not model randomness): a NumPy generator with an explicit, fixed seed.
    """

    def make(n: int, n_pixels: int, seed: int = 12345) -> np.ndarray:
        return np.random.default_rng(seed).integers(0, 256, size=(n, n_pixels), dtype=np.uint8)

    return make


@pytest.fixture(scope="module")
def torch_single_thread():
    """Run torch with one intra-op thread for the module, then restore the previous count.

    On the shared 2-core machines small torch element-wise ops with 2 OpenMP threads were
    measured ~400x slower under load (spin-waiting threads) than with 1 thread. Tests
    that compare small NumPy and torch computations use this fixture.
    """
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(old)


def _assert_states_match(got: dict, want: dict, atol: float = 0.0, keys=None) -> None:
    """Every key of ``want`` (or ``keys``) in ``got``: integer and boolean arrays (and everything
    when ``atol`` is 0) equal exactly, float arrays within ``atol`` (rtol 0)."""
    for k in want if keys is None else keys:
        assert k in got, k
        g, w = np.asarray(got[k]), np.asarray(want[k])
        if atol == 0 or not np.issubdtype(w.dtype, np.floating):
            np.testing.assert_array_equal(g, w, err_msg=k)
        else:
            np.testing.assert_allclose(g, w, rtol=0, atol=atol, err_msg=k)


@pytest.fixture(scope="session")
def assert_states_match():
    """:func:`_assert_states_match`: compare two state_dicts, exactly or within a float atol."""
    return _assert_states_match
