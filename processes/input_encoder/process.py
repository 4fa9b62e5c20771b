"""Gated input encoder Process (MODEL.md 4.1, docs/model.md "Input").

Images arrive one at a time on ``img_in`` (n_x pixel intensities 0-255, sent by
the host through an external pipe) and are shown for ``steps_per_image`` wake
steps each. While awake, pixel j spikes at wake step w iff

    uniform_u32(key(seed, INPUT, w), j) < round(p_j 2**32),
    p_j = intensity_j / 255 * max_rate_hz * dt / 1000

(lava_sleep.kernels.encode: an integer compare, identical in every backend and
in float and fixed models). While the controller's ``asleep`` bit is set the gate
is closed: no spikes, the wake-step counter w does not advance and no image is
consumed, so the encoder keeps its place in the data stream. Each image occupies a
slot of steps_per_image presentation steps and rest_steps rest steps; on rest steps
(the controller's ``rest`` bit) the gate is closed too (no spikes, no draws) but w
advances. A new image is read at the first wake step of each slot
(w % (steps_per_image + rest_steps) == 0).
"""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_sleep.params import ModelParams
from lava_sleep.processes.sleep_controller.process import CTRL_SIZE


class GatedEncoder(AbstractProcess):
    """Bernoulli rate encoder with a sleep gate.

    Args:
        params: the model (``params.input``: image_size, max_rate_hz, steps_per_image,
            rest_steps).
        seed: run seed of the INPUT stream.
        wake_t0: wake steps already taken (0 for a fresh network).

    Ports:
        img_in (n_x,): next image, pixel intensities 0-255 (host pipe).
        ctrl_in (CTRL_SIZE,): controller's control vector.
        s_out (n_x,): input spikes (bool).
        rec_out (n_x,): spikes, every step while recording (host pipe).

    Vars: wake_t (wake steps so far), thresholds (integer Bernoulli thresholds of
    the current image, in units of 2**-32).
    """

    def __init__(self, *, params: ModelParams, seed: int, wake_t0: int = 0, name: str | None = None):
        super().__init__(params=params, seed=seed, name=name)
        n_x = params.n_input
        self.img_in = InPort(shape=(n_x,))
        self.ctrl_in = InPort(shape=(CTRL_SIZE,))
        self.s_out = OutPort(shape=(n_x,))
        self.rec_out = OutPort(shape=(n_x,))
        self.wake_t = Var(shape=(1,), init=wake_t0)
        self.thresholds = Var(shape=(n_x,), init=0)
