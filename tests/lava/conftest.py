"""Fixtures of the Lava tests (helpers live in lava_helpers.py)."""

from __future__ import annotations

import numpy as np
import pytest
from lava_helpers import make_test_images, precision_cases


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    """12 random images of 16 pixels (600 wake steps at 50 steps per image)."""
    return make_test_images()


def pytest_generate_tests(metafunc):
    """A test that takes ``precision_case`` runs once per case of tests/conftest.py's
    ``PRECISION_CASES`` (use it with the ``with_precision`` fixture)."""
    if "precision_case" in metafunc.fixturenames:
        metafunc.parametrize("precision_case", list(precision_cases(metafunc.config)))

