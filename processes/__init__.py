"""Lava Processes and ProcessModels of lava-sleep (installed as lava_sleep.processes).

One folder per process, holding only ``process.py`` and ``models.py``: Lava
imports every .py file beside a Process definition when it compiles.
"""
