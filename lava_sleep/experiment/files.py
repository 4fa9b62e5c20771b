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
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lava_sleep.experiment.config import RunError
from lava_sleep.io import atomic_savez, atomic_write_json
from lava_sleep.params import PATHWAY_NAMES

RESULT = "result.json"
MODEL = "model.npz"
RASTER = "raster.npz"
CHECKPOINT = "checkpoint.npz"
MODEL_FORMAT = "lava-sleep-model/1"
RESULT_FORMAT = "lava-sleep-run/2"  # 2: metrics.baselines, metrics.generalization, cost
CHECKPOINT_FORMAT = "lava-sleep-checkpoint/1"

#: State arrays every simulator writes for a member (ReferenceSimulator.state_dict); trace
#: (``x_*``, ``y_*``) and accumulator (``acc_*``) arrays depend on the parameters.
STATE_KEYS = ("u", "v", "a", "pending", "counters",
              *(f"m_{n}" for n in PATHWAY_NAMES), *(f"mask_{n}" for n in PATHWAY_NAMES))
#: Arrays of model.npz that ``lava-sleep eval`` needs, per model kind (optional arrays, e.g.
#: baselines, are not listed; extend these tuples when evaluation starts to need more).
MODEL_REQUIRED_ARRAYS = {
    "stdp": ("assignments", *(f"readout_{k}" for k in ("mean", "scale", "coef", "intercept", "classes", "c")),
             *(f"state_{k}" for k in STATE_KEYS)),
    "sg": ("sg_W1", "sg_b1", "sg_W2", "sg_b2", "sg_seed"),
}
#: Fields of model.npz's ``config_json`` that evaluation needs, per model kind (ints: checked as such).
MODEL_REQUIRED_CONFIG = {"stdp": ("image_size", "n_classes", "seed", "params"),
                         "sg": ("image_size", "n_classes", "sg_params")}
MODEL_INT_CONFIG = ("image_size", "n_classes", "seed")
#: Fields of a checkpoint's progress record (``progress_json``) that resuming needs; the
#: list-valued ones hold one entry per batch member.
PROGRESS_KEYS = ("done", "train_s", "steps", "sleep_steps", "wake_steps", "spikes", "episodes", "history")
PROGRESS_MEMBER_KEYS = ("steps", "sleep_steps", "wake_steps", "spikes", "episodes", "history")


def check_out_dir(path, what: str = "--out") -> Path:
    """RunError (one line) unless ``path`` is a folder, or can be made one, that accepts files.

    Checked by really trying (permission bits do not stop root): the missing folders are
    created, a temporary file is created and deleted in ``path``, and the folders created
    for the probe are removed again, so nothing is left behind either way.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunError(f"{what} {path} exists and is not a folder")
    missing, p = [], path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    if p.exists() and not p.is_dir():
        raise RunError(f"{what} {path} cannot be created: {p} is a file, not a folder")
    created = []
    try:
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        fd, tmp = tempfile.mkstemp(prefix=".lava-sleep-write-test.", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise RunError(f"{what} {path} is not writable ({exc.strerror or type(exc).__name__})") from None
    finally:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass
    return path


def check_model(arrays: dict, config, path) -> None:
    """RunError naming every key a model file lacks for evaluation (see MODEL_REQUIRED_*)."""
    if not isinstance(config, dict):
        raise RunError(f"{path}: corrupted config (config_json is not a JSON object)")
    model = config.get("model", "stdp")
    if model not in MODEL_REQUIRED_ARRAYS:
        return  # evaluate_run reports the unknown model kind
    missing = [k for k in MODEL_REQUIRED_ARRAYS[model] if k not in arrays]
    missing_cfg = [k for k in MODEL_REQUIRED_CONFIG[model] if k not in config]
    if missing or missing_cfg:
        parts = ([f"arrays {', '.join(missing)}"] if missing else []) + \
                ([f"config_json fields {', '.join(missing_cfg)}"] if missing_cfg else [])
        raise RunError(f"{path}: model file lacks {' and '.join(parts)} (incomplete or damaged; "
                       "train the run again)")
    for k in MODEL_INT_CONFIG:
        if k not in MODEL_REQUIRED_CONFIG[model]:
            continue
        v, least = config[k], 0 if k == "seed" else 1
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise RunError(f"{path}: config_json field {k} must be an integer >= {least}, found {v!r}")


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
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):  # a single .npy array
            raise ValueError("a single array, not an .npz archive")
        with z:
            d = {k: z[k] for k in z.files}
        bad = [k for k, v in d.items() if not isinstance(v, np.ndarray)]  # zip members that are no .npy
        if bad:
            raise ValueError(f"{', '.join(bad)} not NumPy arrays")
        return d
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
              "progress_json": _str_array(json.dumps(jsonable(progress))),
              "state_keys_json": _str_array(json.dumps([sorted(st) for st in states]))}
    for b, st in enumerate(states):
        for k, v in st.items():
            arrays[f"b{b}_{k}"] = np.asarray(v)
    atomic_savez(path, **arrays)


def _corrupt(path, why: str) -> RunError:
    return RunError(f"{path}: corrupted checkpoint ({why}); move it away or delete it to start over")


def _checkpoint_arrays(path) -> dict:
    """Arrays of a lava-sleep checkpoint that holds its format and key (RunError otherwise)."""
    d = load_npz_dict(path, "checkpoint")
    if str(d.get("format", "")) != CHECKPOINT_FORMAT:
        raise RunError(f"{path}: not a lava-sleep checkpoint; move it away or delete it to start over")
    if "key" not in d or not str(d["key"]):
        raise _corrupt(path, "lacks the configuration key 'key'")
    return d


def _json_field(d: dict, name: str, path):
    if name not in d:
        raise _corrupt(path, f"lacks {name!r}")
    try:
        return json.loads(str(d[name]))
    except (json.JSONDecodeError, ValueError) as exc:
        raise _corrupt(path, f"{name} is not valid JSON: {exc}") from None


def _check_progress(prog, n_members: int, path) -> None:
    def bad(why):
        return _corrupt(path, f"progress_json {why}")

    if not isinstance(prog, dict):
        raise bad("is not a JSON object")
    missing = [k for k in PROGRESS_KEYS if k not in prog]
    if missing:
        raise bad(f"lacks {', '.join(missing)}")
    done = prog["done"]
    if isinstance(done, bool) or not isinstance(done, int) or done < 0:
        raise bad(f"has done = {done!r}, not a count of images")
    for k in PROGRESS_MEMBER_KEYS:
        if not isinstance(prog[k], list) or len(prog[k]) != n_members:
            raise bad(f"field {k} is not a list of {n_members} batch member(s)")


def read_checkpoint(path, key: str, n_members: int):
    """(states, progress) of a checkpoint with this key, or None when absent or of another config.

    A corrupted checkpoint (unreadable, bad progress JSON, missing key or member state
    arrays) raises RunError (it is never silently discarded, and it is left in place).
    """
    path = Path(path)
    if not path.exists():
        return None
    d = _checkpoint_arrays(path)
    if str(d["key"]) != key:
        return None
    states = [prefixed(d, f"b{b}_") for b in range(n_members)]
    if any(not s for s in states):
        raise RunError(f"{path}: checkpoint lacks the state of a batch member")
    listed = _json_field(d, "state_keys_json", path) if "state_keys_json" in d else None
    for b, st in enumerate(states):
        want = list(STATE_KEYS)
        if isinstance(listed, list) and b < len(listed) and isinstance(listed[b], list):
            want += [str(k) for k in listed[b]]
        missing = sorted({k for k in want if k not in st})
        if missing:
            raise _corrupt(path, f"batch member {b} lacks state arrays {', '.join(missing)}")
    progress = _json_field(d, "progress_json", path)
    _check_progress(progress, n_members, path)
    return states, progress


def checkpoint_key(path) -> str | None:
    """The config key stored in a checkpoint, None when there is none (RunError when corrupted)."""
    path = Path(path)
    if not path.exists():
        return None
    return str(_checkpoint_arrays(path)["key"])
