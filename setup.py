"""Package list for setuptools (all other metadata lives in pyproject.toml).

The top-level folder ``processes/`` installs as ``lava_sleep.processes`` (see
``[tool.setuptools] package-dir``); automatic discovery does not follow that
mapping, so the subpackages are listed here.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["lava_sleep", "lava_sleep.*"])
    + ["lava_sleep.processes"]
    + ["lava_sleep.processes." + name for name in find_packages("processes")]
)
