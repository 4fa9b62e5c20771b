"""Lava Processes and ProcessModels of lava-sleep (installed as lava_sleep.processes).

One folder per process, holding only ``process.py`` and ``models.py``: Lava
imports every .py file beside a Process definition when it compiles.
"""

import multiprocessing as _mp
import sys as _sys


def release_fork_context() -> None:
    """lava-nc 0.10 calls multiprocessing.set_start_method("fork") when it is first imported (its
    message infrastructure), which raises "context has already been set" if anything in this
    process fixed the start method before: a study that used scikit-learn first, tqdm's first
    progress bar, torch.compile (which shows one). Until lava is imported, on a fork platform whose
    context is already "fork" the context is released: Lava then sets the same method again.
    Other methods are left alone."""
    if "lava.magma.runtime.message_infrastructure.multiprocessing" in _sys.modules:
        return
    if _mp.get_start_method(allow_none=True) == "fork":
        _mp.set_start_method(None, force=True)


# Every Process here imports lava through this package.
release_fork_context()
