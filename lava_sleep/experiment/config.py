"""Run configuration: parameters from a preset and a TOML file, backend choice, hashing.

A config file is the TOML of :func:`lava_sleep.params.save_toml` (sections
``[input]``, ``[neuron]``, ``[network]``, ``[stdp]``, ``[sleep]``, ``[fixed]``), read on top
of a preset; it may add an ``[sg]`` table with :class:`lava_sleep.sg.SGParams` fields
for the surrogate-gradient baseline (``--model sg``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from lava_sleep import params as P
from lava_sleep.backends import BACKENDS, BackendError
from lava_sleep.errors import UserError

MODELS = ("stdp", "sg")
MODES = ("float", "fixed")
DTYPES = ("float64", "float32")


class RunError(UserError):
    """A run folder, model file or experiment option is unusable (one line)."""


def read_config_file(path) -> dict:
    """Parse a TOML config file into a dict (RunError / ParamError on problems)."""
    import tomli

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomli.load(fh)
    except FileNotFoundError:
        raise P.ParamError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise P.ParamError(f"config file {path} is a folder") from None
    except (tomli.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise P.ParamError(f"config file {path} is not valid TOML: {exc}") from None


def build_params(preset: str = "paper", config: str | Path | None = None) -> P.ModelParams:
    """ModelParams of ``preset`` ("paper" or "quick"), overridden by the config file."""
    base = P.preset(preset)
    if config is None:
        return base
    d = dict(read_config_file(config))
    d.pop("sg", None)
    try:
        return P.ModelParams.from_dict(d, base)
    except TypeError as exc:  # wrong value types inside dataclasses.replace()
        raise P.ParamError(f"config file {config}: {exc}") from None


def build_sg_params(preset: str = "paper", config: str | Path | None = None):
    """SGParams of the SG preset of the same name, overridden by the file's [sg] table."""
    sg = import_sg()
    base = sg.sg_preset(preset)
    if config is None:
        return base
    d = read_config_file(config).get("sg", {})
    if not isinstance(d, dict):
        raise P.ParamError(f"config file {config}: [sg] must be a table")
    try:
        return sg.SGParams.from_dict(d, base)
    except TypeError as exc:
        raise P.ParamError(f"config file {config}: [sg]: {exc}") from None


def import_sg():
    """The surrogate-gradient package, or a one-line RunError when it is missing."""
    try:
        import lava_sleep.sg as sg
    except ImportError as exc:
        raise RunError(f"--model sg needs lava_sleep.sg, which cannot be imported here ({exc})") from None
    return sg


def torch_available() -> bool:
    try:
        from lava_sleep.engine import TorchSimulator  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(name: str | None, notice=True) -> str:
    """The backend to use: ``name``, or for None/"auto" torch when the engine imports,
    else numpy (with a one-line notice on stderr)."""
    if name in (None, "auto"):
        if torch_available():
            return "torch"
        if notice:
            sys.stderr.write("lava-sleep: note: torch engine not available, using the numpy backend\n")
        return "numpy"
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def check_choice(what: str, value, choices) -> None:
    if value not in choices:
        raise RunError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def config_hash(obj) -> str:
    """Short stable hash of a JSON-able object (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_list(text: str, kind=float, what="value") -> list:
    """Comma-separated list ("0,0.1,0.2") -> [kind(...)], RunError on bad items."""
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(kind(item))
        except ValueError:
            raise RunError(f"bad {what} {item!r} in {text!r}") from None
    if not out:
        raise RunError(f"empty list of {what}s: {text!r}")
    return out
