"""Files of a run folder, all written atomically (temp file + rename, lava_sleep.io).

``RUN_DIR/result.json``  configuration, metrics, accuracies, sleep steps, timings,
                          weight-health history (see docs/pipeline.md for every field).
``RUN_DIR/model.npz``    the trained network: see :func:`model_arrays` (STDP) or the
                          SG state (``sg_*`` arrays), plus ``config_json`` / ``config_toml``.
``RUN_DIR/raster.npz``   spikes around the first sleep episode (for plots).
``RUN_DIR/checkpoint.npz`` training state + progress while a run is unfinished.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lava_sleep.experiment.config import RunError
from lava_sleep.io import atomic_savez, atomic_write_json

RESULT = "result.json"
MODEL = "model.npz"
RASTER = "raster.npz"
CHECKPOINT = "checkpoint.npz"
MODEL_FORMAT = "lava-sleep-model/1"
RESULT_FORMAT = "lava-sleep-run/1"
CHECKPOINT_FORMAT = "lava-sleep-checkpoint/1"


def jsonable(obj):
    """Copy of ``obj`` with NumPy scalars/arrays as Python values and non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_result(run_dir, result: dict) -> Path:
    path = Path(run_dir) / RESULT
    atomic_write_json(path, jsonable(result))
    return path


def read_json(path, what: str = "file") -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: {what} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: corrupted {what} ({exc})") from None


def read_result(run_dir) -> dict:
    return read_json(Path(run_dir) / RESULT, "result.json")


def _str_array(s: str) -> np.ndarray:
    return np.array(s)


def write_model(run_dir, arrays: dict, config: dict, config_toml: str = "") -> Path:
    """Write model.npz: ``arrays`` plus format, config_json and config_toml strings."""
    path = Path(run_dir) / MODEL
    out = {k: np.asarray(v) for k, v in arrays.items()}
    out["format"] = _str_array(MODEL_FORMAT)
    out["config_json"] = _str_array(json.dumps(jsonable(config), sort_keys=True))
    out["config_toml"] = _str_array(config_toml)
    atomic_savez(path, **out)
    return path


def load_npz_dict(path, what: str) -> dict:
    """All arrays of an .npz as a dict (RunError if missing or corrupted)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise RunError(f"{path}: {what} not found") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise RunError(f"{path}: corrupted {what} ({type(exc).__name__}: {exc})") from None


def read_model(run_dir) -> tuple[dict, dict]:
    """(arrays, config) of RUN_DIR/model.npz, with one-line errors for every defect."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RunError(f"run folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise RunError(f"{run_dir} is not a folder")
    if not (run_dir / MODEL).exists():
        raise RunError(f"{run_dir} holds no {MODEL} (not a finished run; train it first)")
    d = load_npz_dict(run_dir / MODEL, "model file")
    if "format" not in d or str(d["format"]) != MODEL_FORMAT or "config_json" not in d:
        raise RunError(f"{run_dir / MODEL}: not a lava-sleep model file")
    try:
        config = json.loads(str(d["config_json"]))
    except json.JSONDecodeError as exc:
        raise RunError(f"{run_dir / MODEL}: corrupted config ({exc})") from None
    return d, config


def prefixed(d: dict, prefix: str) -> dict:
    """Sub-dict of the keys starting with ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}


def write_checkpoint(path, key: str, states: list[dict], progress: dict) -> None:
    """Atomically write the state of every batch member plus the JSON progress record."""
    arrays = {"format": _str_array(CHECKPOINT_FORMAT), "key": _str_array(key),
              "progress_json": _str_array(json.dumps(jsonable(progress)))}
    for b, st in enumerate(states):
        for k, v in st.items():
            arrays[f"b{b}_{k}"] = np.asarray(v)
    atomic_savez(path, **arrays)


def read_checkpoint(path, key: str, n_members: int):
    """(states, progress) of a checkpoint with this key, or None when absent or of another config.

    A corrupted checkpoint raises RunError (it is never silently discarded).
    """
    path = Path(path)
    if not path.exists():
        return None
    d = load_npz_dict(path, "checkpoint")
    if str(d.get("format", "")) != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not a lava-sleep checkpoint")
    if str(d["key"]) != key:
        return None
    states = [prefixed(d, f"b{b}_") for b in range(n_members)]
    if any(not s for s in states):
        raise RunError(f"{path}: checkpoint lacks the state of a batch member")
    return states, json.loads(str(d["progress_json"]))


def checkpoint_key(path) -> str | None:
    """The config key stored in a checkpoint, None when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    d = load_npz_dict(path, "checkpoint")
    return str(d.get("key", ""))
