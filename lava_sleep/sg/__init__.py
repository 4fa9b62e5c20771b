"""Surrogate-gradient SNN baseline under the same sleep protocol as the STDP network (docs/sg.md).

A torch SG-SNN (input P -> LIF hidden -> LIF output, fast-sigmoid surrogate
derivative, Adam) trained on the same images and Bernoulli encoding as the STDP
network, with sleep episodes scheduled by :meth:`lava_sleep.params.SleepParams.episode_length`
and the homeostatic decay of :mod:`lava_sleep.kernels.sleep` applied to |w| (signs kept).
"""

from lava_sleep.sg.params import SG_PRESETS, SGParams, sg_preset
from lava_sleep.sg.train import SGDataError, SGRun, SGTrainer, evaluate_sg, train_sg

__all__ = ["SG_PRESETS", "SGDataError", "SGParams", "SGRun", "SGTrainer", "evaluate_sg", "sg_preset",
           "train_sg"]
