"""Lava Processes and ProcessModels of lava-sleep (installed as lava_sleep.processes).

One folder per process, holding only ``process.py`` and ``models.py``: Lava
imports every .py file beside a Process definition when it compiles.
"""

import multiprocessing as _mp

# lava-nc 0.10 calls multiprocessing.set_start_method("fork") when it is first imported (its
# message infrastructure), which raises "context has already been set" if anything in this process
# fixed the start method before (e.g. a study that used scikit-learn first). Every Process here
# imports lava through this package, so on a fork platform whose context is already "fork" the
# context is released first: Lava then sets the same method again. Other methods are left alone.
if _mp.get_start_method(allow_none=True) == "fork":
    _mp.set_start_method(None, force=True)
