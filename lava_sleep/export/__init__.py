"""Export a trained network out of lava-sleep (``lava-sleep export``), e.g. to leave Lava.

One module per format; :data:`FORMATS` is the list the command line accepts. ``nir``: the
Neuromorphic Intermediate Representation (:mod:`lava_sleep.export.nir`); ``loihi``: a Loihi 2
deployment file (JSON) of the Loihi-native network (:mod:`lava_sleep.export.loihi`, needs
lava-nc). Both: docs/export.md.
"""

from __future__ import annotations

#: Export formats, in the order the command line lists them.
FORMATS = ("nir", "loihi")


def export_run(run_dir, out, fmt: str = "nir") -> dict:
    """Export the run in ``run_dir`` to the file ``out`` in format ``fmt``; returns a summary.

    User errors (unusable run, unknown format, unwritable path, a network the format cannot hold)
    raise :class:`lava_sleep.experiment.config.RunError` with one line.
    """
    from lava_sleep.experiment.config import RunError

    if fmt not in FORMATS:
        raise RunError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "loihi":
        from lava_sleep.export import loihi as loihi_export

        return loihi_export.export_run(run_dir, out)
    from lava_sleep.export import nir as nir_export

    return nir_export.export_run(run_dir, out)
