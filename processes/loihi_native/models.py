"""SubProcessModel of the Loihi-native E/I network (tags ``floating_pt``, ``fixed_pt``).

Builds the RingBuffer input, two LIF populations and four (Learning)Dense
pathways from :func:`~lava_sleep.processes.loihi_native.process.native_constants`.
On Lava's CPU simulator the children run Lava's own models (``PyLifModelFloat``
/ ``PyLifModelBitAcc``, ``PyDenseModelFloat`` / ``PyDenseModelBitAcc``,
``PyLearningDenseModelFloat`` / ``PyLearningDenseModelBitApproximate``); with
lava-loihi and ``Loihi2HwCfg`` the same Processes compile to Loihi 2 cores.
"""

from __future__ import annotations

from lava.magma.core.decorator import implements, tag
from lava.magma.core.model.sub.model import AbstractSubProcessModel
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.process import Dense, LearningDense
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF

from lava_sleep.params import PATHWAY_NAMES
from lava_sleep.processes.loihi_native.process import LoihiEINetwork


@implements(proc=LoihiEINetwork, protocol=LoihiProtocol)
@tag("floating_pt", "fixed_pt")
class LoihiEINetworkModel(AbstractSubProcessModel):
    """Standard Lava Processes wired as the E/I network (no sleep controller).

    A sink ring buffer records the E spikes of every step (one buffer slot per
    input-raster column), aliased as ``spikes_E``.
    """

    def __init__(self, proc: LoihiEINetwork):
        p = proc.proc_params
        params, c = p["params"], p["consts"]
        self.source = RingBuffer(data=p["input_spikes"].astype(float))
        lif_args = {"du": c.du, "dv": c.dv, "vth": c.vth, "bias_mant": c.bias}
        self.exc = LIF(shape=(params.network.n_exc,), **lif_args)
        self.inh = LIF(shape=(params.network.n_inh,), **lif_args)
        syn = {}
        for n in PATHWAY_NAMES:
            kwargs = {"weights": c.weights[n], "weight_exp": c.weight_exp[n], "num_weight_bits": 8}
            if n in c.rules:
                syn[n] = LearningDense(learning_rule=c.rules[n], **kwargs)
            else:
                syn[n] = Dense(**kwargs)
            setattr(self, n.lower(), syn[n])
        pop = {"X": self.source, "E": self.exc, "I": self.inh}
        for n in PATHWAY_NAMES:
            pop[n[0]].s_out.connect(syn[n].s_in)
            syn[n].a_out.connect(pop[n[1]].a_in)
            if n in c.rules:
                pop[n[1]].s_out.connect(syn[n].s_in_bap)
            getattr(proc, f"w_{n}").alias(syn[n].weights)
        proc.v_E.alias(self.exc.v)
        proc.v_I.alias(self.inh.v)
        # E spikes of every step, read once by the host after the run
        self.sink = SinkBuffer(shape=(params.network.n_exc,), buffer=p["input_spikes"].shape[1])
        self.exc.s_out.connect(self.sink.a_in)
        proc.spikes_E.alias(self.sink.data)
