"""ProcessModels of the spike gate (``floating_pt``: float spikes; ``fixed_pt``: integer spikes
of up to 24 bits, as Lava's fixed LIF sends them)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_sleep.processes.sleep_controller.process import CTRL_ASLEEP
from lava_sleep.processes.spike_gate.process import SpikeGate


class AbstractSpikeGateModel(PyLoihiProcessModel):
    """s_out = s_in while awake, 0 while asleep (same step)."""

    ctrl_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)

    def run_spk(self):
        ctrl = self.ctrl_in.recv()
        s = self.s_in.recv()
        self.s_out.send(np.zeros_like(s) if ctrl[CTRL_ASLEEP] else s)


@implements(proc=SpikeGate, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeGateModelFloat(AbstractSpikeGateModel):
    """Float spikes (Lava's float LIF sends float64 0/1)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)


@implements(proc=SpikeGate, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeGateModelFixed(AbstractSpikeGateModel):
    """Integer spikes (graded up to 24 bits)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
