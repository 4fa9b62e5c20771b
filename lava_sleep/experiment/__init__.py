"""The experiment pipeline: runs, checkpoints, result and model files, evaluation.

* :mod:`.config`   - parameters from presets and TOML, backend choice, hashing, RunError.
* :mod:`.data`     - load, split, resize the images of a run (RunData, DataCache).
* :mod:`.stdp`     - batched STDP runs: training with sleep, health snapshots, checkpoints,
  evaluation and saving (run_members, Member, TrainOptions).
* :mod:`.sgrun`    - surrogate-gradient baseline runs in the same folder layout.
* :mod:`.evaluate` - a saved run on new images.
* :mod:`.files`    - the run folder's files (result.json, model.npz, raster.npz, checkpoint.npz).

User documentation: docs/pipeline.md.
"""

from lava_sleep.experiment.config import RunError, build_params, resolve_backend
from lava_sleep.experiment.data import DataCache, RunData
from lava_sleep.experiment.evaluate import evaluate_run
from lava_sleep.experiment.stdp import Member, TrainOptions, run_members, score_counts

__all__ = ["DataCache", "Member", "RunData", "RunError", "TrainOptions", "build_params", "evaluate_run",
           "resolve_backend", "run_members", "score_counts"]
