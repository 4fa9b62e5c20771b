"""Evaluate a saved run on new images (``lava-sleep eval``).

The saved network runs with learning and sleep off from the state stored in
``model.npz`` (the trained state); images of another size are area-resampled to the
model's input size. STDP runs report the label-assignment and linear-readout
accuracies with the stored assignment and readout coefficients; SG runs report the
SG network's accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lava_sleep.backends import make_simulator
from lava_sleep.data import DataError, load_dataset
from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError, import_sg, resolve_backend, torch_available
from lava_sleep.experiment.data import flatten_resized
from lava_sleep.experiment.stdp import close_simulator
from lava_sleep.metrics import phi
from lava_sleep.params import ModelParams, ParamError
from lava_sleep.readout import LinearReadout, accuracy, predict_assignment


def load_images(data_path, image_size: int, n_classes: int, max_images: int | None = None):
    """(images uint8 (N, image_size**2), labels int64 (N,), dataset name) from a path."""
    path = Path(data_path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    ds = load_dataset(str(path))
    if max_images is not None:
        if max_images < 1:
            raise RunError(f"--max-images must be >= 1, got {max_images}")
        ds = ds.subset(slice(0, max_images))
    if len(ds) == 0:
        raise DataError(f"{path}: holds no images")
    if ds.labels.max() >= n_classes:
        raise DataError(f"{path}: labels go up to {int(ds.labels.max())} but the model knows "
                        f"{n_classes} classes")
    return flatten_resized(ds.images, image_size), ds.labels, ds.name


def _params(config) -> ModelParams:
    try:
        return ModelParams.from_dict(config["params"])
    except (KeyError, TypeError, ParamError) as exc:
        raise RunError(f"model file holds an unusable configuration ({exc})") from None


def evaluate_run(run_dir, data_path, backend: str | None = None, device: str | None = None,
                 max_images: int | None = None) -> dict:
    """Accuracies of the run in ``run_dir`` on the images at ``data_path``."""
    arrays, config = files.read_model(run_dir)
    model = config.get("model", "stdp")
    image_size = int(config["image_size"])
    n_classes = int(config["n_classes"])
    images, labels, name = load_images(data_path, image_size, n_classes, max_images)
    out = {"run": str(run_dir), "data": str(data_path), "model": model, "n_images": int(len(labels))}
    if model == "sg":
        sg = import_sg()
        try:
            sgp = sg.SGParams.from_dict(config["sg_params"])
        except (KeyError, TypeError, ParamError) as exc:
            raise RunError(f"model file holds an unusable SG configuration ({exc})") from None
        state = files.prefixed(arrays, "sg_")
        ev = sg.evaluate_sg(state, sgp, images, labels, device=device or config.get("device", "cpu"))
        out["accuracy"] = ev["accuracy"]
        return out
    if model != "stdp":
        raise RunError(f"model file of unknown model kind {model!r}")
    params = _params(config)
    if backend is None:
        saved = config.get("backend")
        backend = saved if saved == "numpy" or (saved == "torch" and torch_available()) else None
    backend = resolve_backend(backend)
    state = files.prefixed(arrays, "state_")
    mode = config.get("mode", "float")
    dtype = config.get("dtype", "float64")
    sim = make_simulator(backend, [params], [int(config["seed"])], mode=mode, dtype=dtype,
                         device=device or "cpu")
    try:
        sim.load_state_dict(0, state)
    except (KeyError, ValueError) as exc:
        raise RunError(f"{Path(run_dir) / files.MODEL}: network state does not fit the model "
                       f"({exc})") from None
    try:
        counts = np.asarray(sim.run(images, learn=False, sleep_on=False).counts[0])
    finally:
        close_simulator(sim)
    readout = LinearReadout.from_arrays(arrays)
    pa = predict_assignment(counts, arrays["assignments"], n_classes)
    pl = readout.predict(counts)
    spi_s = params.input.steps_per_image * params.neuron.dt / 1000.0
    out.update({"assignment_accuracy": accuracy(pa, labels), "linear_accuracy": accuracy(pl, labels),
                "phi": phi(counts / spi_s, labels), "backend": backend})
    out["accuracy"] = out["linear_accuracy"]
    return files.jsonable(out)
