"""Shared fixtures for the whole test suite (kept small and general)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep import params as P


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
