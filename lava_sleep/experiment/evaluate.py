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


def _readout_scores(arrays, prefix: str, counts, labels, n_classes: int, spi_s: float) -> dict:
    """Assignment and linear-readout accuracies (and phi) of counts with the readouts stored
    under ``prefix`` ("" for the trained network, "untrained_" for its baseline)."""
    readout = LinearReadout.from_arrays(arrays, f"{prefix}readout_")
    pa = predict_assignment(counts, arrays[f"{prefix}assignments"], n_classes)
    return {"assignment_accuracy": accuracy(pa, labels),
            "linear_accuracy": accuracy(readout.predict(counts), labels),
            "phi": phi(counts / spi_s, labels)}


def evaluate_run(run_dir, data_path, backend: str | None = None, device: str | None = None,
                 max_images: int | None = None) -> dict:
    """Accuracies of the run in ``run_dir`` on the images at ``data_path``."""
    arrays, config = files.read_model(run_dir)
    files.check_model(arrays, config, Path(run_dir) / files.MODEL)  # missing keys: one line naming them
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
    seed = int(config["seed"])
    # the untrained-network baseline: the same parameters and seed in their initial state, in
    # the same batch when the backend batches (numpy, torch), else on the default backend
    untrained = "untrained_readout_coef" in arrays
    together = untrained and backend in ("numpy", "torch")
    n_sim = 2 if together else 1
    sim = make_simulator(backend, [params] * n_sim, [seed] * n_sim, mode=mode, dtype=dtype,
                         device=device or "cpu")
    sims = [sim]
    try:
        try:
            sim.load_state_dict(0, state)
        except (KeyError, ValueError) as exc:
            raise RunError(f"{Path(run_dir) / files.MODEL}: network state does not fit the model "
                           f"({exc})") from None
        out_sim = sim.run(images, learn=False, sleep_on=False)
        counts = np.asarray(out_sim.counts[0])
        counts_u = None
        if together:
            counts_u = np.asarray(out_sim.counts[1])
        elif untrained:
            usim = make_simulator(resolve_backend(None, notice=False), [params], [seed], mode=mode,
                                  dtype=dtype)
            sims.append(usim)
            counts_u = np.asarray(usim.run(images, learn=False, sleep_on=False).counts[0])
    finally:
        for s_ in sims:
            close_simulator(s_)
    spi_s = params.input.steps_per_image * params.neuron.dt / 1000.0
    out.update(_readout_scores(arrays, "", counts, labels, n_classes, spi_s))
    out["backend"] = backend
    if "pixels_readout_coef" in arrays:
        pix = LinearReadout.from_arrays(arrays, "pixels_readout_").predict(images.astype(np.float64))
        base = {"pixels_linear_accuracy": accuracy(pix, labels)}
        if counts_u is not None:
            u = _readout_scores(arrays, "untrained_", counts_u, labels, n_classes, spi_s)
            base.update({f"untrained_{k}": v for k, v in u.items()})
        out["baselines"] = base
    out["accuracy"] = out["linear_accuracy"]
    return files.jsonable(out)
