"""Every tutorial notebook runs top to bottom without errors (nbclient), in a scratch folder."""

from __future__ import annotations

from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[2] / "tutorials").glob("*.ipynb"))
#: Tutorials that run Lava networks (Python 3.10 with lava-nc only; marked `lava`).
LAVA_TUTORIALS = {"03_lava_processes", "08_sleep_on_loihi2"}
#: Set for the notebooks' kernels: tutorials that read it (04, 06, 07) run their small configuration.
SMALL_ENV = "LAVA_SLEEP_TUTORIAL_SMALL"


def test_tutorials_exist():
    names = [p.name for p in TUTORIALS]
    assert {"01_quickstart.ipynb", "02_sleep_sweep.ipynb", "03_lava_processes.ipynb",
            "04_competitive_learning.ipynb", "05_sleep_in_your_lava_network.ipynb",
            "06_quantization_study.ipynb", "07_continual_learning.ipynb",
            "08_sleep_on_loihi2.ipynb"} <= set(names)


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.lava) if p.stem in LAVA_TUTORIALS else p
                                  for p in TUTORIALS], ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv(SMALL_ENV, "1")  # the kernel inherits the environment
    import nbclient  # dev dependencies (pyproject [dev]), installed by scripts/bootstrap.sh
    import nbformat
    nb = nbformat.read(path, as_version=4)
    outputs = [c.get("outputs") for c in nb.cells if c.cell_type == "code"]
    assert not any(outputs), "commit notebooks without outputs"
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
