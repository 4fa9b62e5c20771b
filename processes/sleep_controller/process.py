"""Sleep controller Process: runs the wake/sleep schedule of MODEL.md 4.

The controller is the network's clock for everything that is not a spike. Every
step it broadcasts a small control vector (``ctrl_out``, layout ``CTRL_*``) to
the encoder, both neuron populations and the plastic synapses:

* ``asleep``    - 1 during a sleep episode: the encoder's gate is closed, neurons
  draw noise with ``sigma_sleep`` instead of ``sigma_wake``, STDP accumulates only
  if ``STDPParams.learn_in_sleep``;
* ``learn``     - STDP on/off for this step (from the host command);
* ``record``    - populations stream their spikes to the host (``rec_out`` pipes);
* ``image_end`` - this wake step is the last one of an image (E sends its counts).

Schedule (identical to the oracle, lava_sleep.reference): after every
``period``-th wake step, episode k lasts ``SleepParams.episode_length(k)`` steps.
The decay is settled at block ends (every ``block`` sleep steps and at the
episode's last step) in the management phase after learning: the controller
reads each plastic pathway's magnitudes through a RefPort (``ref_w_<P>``),
applies :func:`lava_sleep.kernels.sleep.decay_block` and
:func:`~lava_sleep.kernels.sleep.floor_and_prune` (K-step factor ``lam**K``, all
target modes, log/linear forms, per-synapse noise or stochastic rounding keyed
by (seed, DECAY + pathway, step + 1, synapse)), writes the result back (and the
mask through ``ref_mask_<P>`` when pruning removed synapses), then checks early
wake-up (every plastic total within ``tol`` of its initial total).

Host links (external pipes, flagged by the network that owns the controller):
``cmd_in`` receives one command per host run chunk (layout ``CMD_*``) and
``status_out`` sends one status vector (layout ``STATUS_*``) at every sleep block
end: whether the episode is over, sleep steps used, early wake-up, the episode's
first global step, and the four pathway totals before and after the episode.
"""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort, RefPort
from lava.magma.core.process.process import AbstractProcess

from lava_sleep.network import NetworkInit, build_network, pathway_shape
from lava_sleep.params import PATHWAY_NAMES, ModelParams

#: Control vector broadcast every step (int32, 1 bit each).
CTRL_ASLEEP, CTRL_LEARN, CTRL_RECORD, CTRL_IMAGE_END = range(4)
CTRL_SIZE = 4
#: Host command, one per run chunk (float64): steps in the chunk, learn, record, sleep schedule on.
CMD_STEPS, CMD_LEARN, CMD_RECORD, CMD_SLEEP_ON = range(4)
CMD_SIZE = 4
#: Status at every sleep block end (float64).
STATUS_OVER, STATUS_USED, STATUS_WOKE, STATUS_START = range(4)
STATUS_TOTALS_BEFORE = 4  # 4 values, PATHWAY_NAMES order
STATUS_TOTALS_AFTER = 4 + len(PATHWAY_NAMES)
STATUS_SIZE = 4 + 2 * len(PATHWAY_NAMES)


class SleepController(AbstractProcess):
    """Wake/sleep schedule, input gate, sleep drive switch and homeostatic decay.

    Args:
        params: the model (sleep schedule in ``params.sleep``).
        seed: run seed (decay noise / stochastic rounding streams).
        init: the network's initial masks and magnitudes (targets T0, T0_i and
            the static target are computed from them); built from (params, seed)
            when omitted.

    Ports:
        cmd_in (CMD_SIZE,): host command per run chunk.
        ctrl_out (CTRL_SIZE,): control vector, every step.
        status_out (STATUS_SIZE,): sleep status at every block end.
        ref_w_<P>, ref_mask_<P> (post, pre): RefPorts to the magnitudes and mask
            of pathway P (connected only for plastic pathways).
    """

    def __init__(self, *, params: ModelParams, seed: int, init: NetworkInit | None = None,
                 name: str | None = None):
        init = init if init is not None else build_network(params, seed)
        super().__init__(params=params, seed=seed, init=init, name=name)
        self.cmd_in = InPort(shape=(CMD_SIZE,))
        self.ctrl_out = OutPort(shape=(CTRL_SIZE,))
        self.status_out = OutPort(shape=(STATUS_SIZE,))
        for n in PATHWAY_NAMES:
            shape = pathway_shape(params, n)
            setattr(self, f"ref_w_{n}", RefPort(shape=shape))
            setattr(self, f"ref_mask_{n}", RefPort(shape=shape))
