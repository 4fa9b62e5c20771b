"""Fixtures of the Lava tests (helpers live in lava_helpers.py)."""

from __future__ import annotations

import numpy as np
import pytest
from lava_helpers import make_test_images


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    """12 random images of 16 pixels (600 wake steps at 50 steps per image)."""
    return make_test_images()
