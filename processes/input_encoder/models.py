"""ProcessModels of the gated encoder (``floating_pt`` and ``fixed_pt``).

Both models compute the same integer Bernoulli draws (no float arithmetic is
involved), so they differ only in their tags. :class:`EncoderCore` is shared
with the fused network model. Uniform draws are hashed for ``INPUT_BLOCK`` wake
steps at once; values depend only on (seed, wake step, pixel).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep import rng
from lava_sleep.kernels import encode
from lava_sleep.processes.input_encoder.process import GatedEncoder
from lava_sleep.processes.sleep_controller.process import CTRL_ASLEEP, CTRL_RECORD, CTRL_REST

#: Wake steps of uniform draws hashed per call (speed only).
INPUT_BLOCK = 64


class EncoderCore:
    """Input spikes of one wake step from the current image's thresholds (NumPy)."""

    def __init__(self, params, seed: int):
        self.seed = int(seed)
        self.n = params.n_input
        self.spi = params.input.steps_per_image
        self.slot = params.input.slot_steps
        self.max_rate_hz = params.input.max_rate_hz
        self.dt = params.neuron.dt
        self.index = np.arange(self.n, dtype=np.int64)
        self._w0 = -1
        self._u = np.zeros((0, self.n), dtype=np.int64)

    def thresholds(self, image) -> np.ndarray:
        """Integer thresholds (n_x,) of one image given as intensities 0-255 (any dtype)."""
        img = np.rint(np.asarray(image, dtype=np.float64)).astype(np.uint8)[None, :]
        return encode.input_thresholds(img, self.max_rate_hz, self.dt)[0]

    def needs_image(self, wake_t: int) -> bool:
        """Whether wake step ``wake_t`` starts an image slot (a new image is read)."""
        return wake_t % self.slot == 0

    def spikes(self, wake_t: int, thresholds) -> np.ndarray:
        """Spikes (bool, n_x) at wake step ``wake_t``: uniform_u32(key(seed, INPUT, w), j) < thr_j."""
        if not self._w0 <= wake_t < self._w0 + self._u.shape[0]:
            keys = rng.key_array(self.seed, rng.Stream.INPUT, np.arange(wake_t, wake_t + INPUT_BLOCK))
            self._u = rng.uniform_u32_np(keys[:, None], self.index[None, :])
            self._w0 = wake_t
        return self._u[wake_t - self._w0] < thresholds


class AbstractGatedEncoderModel(PyLoihiProcessModel):
    """Shared behaviour: read an image at each slot start, emit gated spikes (none while
    asleep or resting; the wake counter advances on rest steps)."""

    img_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.float64)
    ctrl_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    rec_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, bool, precision=1)
    wake_t: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=64)
    thresholds: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=33)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.core = EncoderCore(proc_params["params"], proc_params["seed"])

    def run_spk(self):
        ctrl = self.ctrl_in.recv()
        if ctrl[CTRL_ASLEEP]:
            s = np.zeros(self.core.n, dtype=bool)
        else:
            w = int(self.wake_t[0])
            if self.core.needs_image(w):
                self.thresholds = self.core.thresholds(self.img_in.recv())
            if ctrl[CTRL_REST]:  # rest step: gate closed, no draws, the wake counter advances
                s = np.zeros(self.core.n, dtype=bool)
            else:
                s = self.core.spikes(w, self.thresholds)
            self.wake_t[0] = w + 1
        self.s_out.send(s)
        if ctrl[CTRL_RECORD]:
            self.rec_out.send(s)


@implements(proc=GatedEncoder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyGatedEncoderModelFloat(AbstractGatedEncoderModel):
    """Float-tagged encoder (integer draws; identical to the fixed model)."""


@implements(proc=GatedEncoder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGatedEncoderModelFixed(AbstractGatedEncoderModel):
    """Fixed-tagged encoder (integer draws; identical to the float model)."""
