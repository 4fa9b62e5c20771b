"""Surrogate-gradient baseline runs (``--model sg``) with the same run-folder layout.

The SG-SNN (lava_sleep.sg) is trained on the same seeded split and the same resized
images as the STDP network, under the same SleepParams (its fraction is the run's
sleep fraction). ``result.json`` carries ``model: "sg"``, ``accuracy`` on the held-out
images and the per-epoch history; ``model.npz`` holds the SG state (``sg_*``) and the
configuration (SG parameters, sleep parameters, image size, classes).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from lava_sleep import __version__
from lava_sleep.experiment import files
from lava_sleep.experiment.config import config_hash, import_sg
from lava_sleep.experiment.data import RunData
from lava_sleep.experiment.stdp import sleep_summary
from lava_sleep.params import SleepParams


def sg_key(sg_params, sleep: SleepParams, seed: int, data: RunData, device: str) -> str:
    return config_hash({"model": "sg", "sg": sg_params.to_dict(), "sleep": _sleep_dict(sleep),
                        "seed": seed, "data": data.digest(), "device": device})


def _sleep_dict(sleep: SleepParams) -> dict:
    import dataclasses

    return dataclasses.asdict(sleep)


def run_sg(sg_params, sleep: SleepParams, seed: int, data: RunData, out_dir: Path | None,
           device: str = "cpu", progress: bool = True, label: str = "", meta: dict | None = None) -> dict:
    """Train and evaluate one SG run; write result.json and model.npz into ``out_dir``."""
    sg = import_sg()
    key = sg_key(sg_params, sleep, seed, data, device)  # of the parameters as given
    if data.n_classes > sg_params.n_classes:
        import dataclasses

        sg_params = dataclasses.replace(sg_params, n_classes=data.n_classes)
    t0 = time.perf_counter()
    run = sg.train_sg(sg_params, sleep, data.train_x, data.train_y, seed, device=device, progress=progress)
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    ev = sg.evaluate_sg(run.state, sg_params, data.test_x, data.test_y, device=device)
    ev_tr = sg.evaluate_sg(run.state, sg_params, data.train_x, data.train_y, device=device)
    eval_s = time.perf_counter() - t1
    episodes = files.jsonable(run.episodes)
    result = {
        "format": files.RESULT_FORMAT, "version": __version__, "model": "sg", "label": label,
        "run_key": key, "seed": seed, "sleep_fraction": sleep.fraction, "backend": "sg-torch",
        "device": device, "dataset": data.info(),
        "config": {"sg": sg_params.to_dict(), "sleep": _sleep_dict(sleep)},
        "accuracy": ev["accuracy"],
        "metrics": {"accuracy": ev["accuracy"], "train_accuracy": ev_tr["accuracy"],
                    "n_test": ev["n_images"]},
        "sleep": sleep_summary(run.episodes, run.wake_steps),
        "steps": {"wake": run.wake_steps, "sleep": run.sleep_steps,
                  "total": run.wake_steps + run.sleep_steps, "unit": "training iterations"},
        "timings": {"train_s": train_s, "eval_s": eval_s, "total_s": train_s + eval_s},
        "history": files.jsonable(run.history),
        "episodes": episodes,
        **(meta or {}),
    }
    if out_dir is not None:
        config = {"model": "sg", "sg_params": sg_params.to_dict(), "sleep": _sleep_dict(sleep),
                  "seed": seed, "device": device, "dataset": data.info(), "classes": list(data.classes),
                  "image_size": data.image_size, "n_classes": data.n_classes, "run_key": key}
        files.write_model(out_dir, {f"sg_{k}": np.asarray(v) for k, v in run.state.items()}, config)
        files.write_result(out_dir, result)
    return files.jsonable(result)
