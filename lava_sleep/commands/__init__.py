"""Sub-commands of the ``lava-sleep`` command line (one module each)."""
