"""Adaptive LIF population Process (MODEL.md 2, docs/model.md "Neuron").

State per neuron, relative to v_rest (float: mV; fixed: 2**-v_frac_bits mV,
24-bit signed, saturating):

* ``u`` - per-step voltage increment carried by the synaptic current
  (``U = r_m I dt / tau_m``),
* ``v`` - membrane potential minus v_rest,
* ``a`` - threshold adaptation.

One step, global step t, ``drive`` = summed (signed) weighted spikes of step t-1
arriving on ``a_in`` (float: weight units; fixed: integer u units, each pathway
already scaled by its ``w_mult``, ``(sum * w_mult) >> 8``)::

    u <- u k_u + gain drive                      (fixed: 12-bit decay, + drive)
    v <- clip(v k_v + u + bias + noise, v_min, v_max)
    s  = v > v_thresh + a
    v <- v_reset where s
    a <- clip(a k_a + delta_a s, a_min, a_max)   (a k_a only on steps with (t + 1) % a_decay_every == 0,
                                                else a; k_a = (1 - dt/tau_a)**a_decay_every)

with ``k_x = 1 - dt/tau_x`` (fixed: ``round(4096 (1 - dt/tau_x))``, products
``sign(x k) (|x k| >> 12)``) and ``gain = r_m dt**2 / (tau_m tau_syn)`` mV per
weight unit. Noise: ``z = normal_int(key(seed, NOISE, t, 0), key(seed, NOISE, t,
1), i)`` for the *global* neuron index ``i = index_offset + local index`` (E
first, then I), float ``z sigma / NORMAL_INT_SD``, fixed ``(z sigma_int) >> 12``,
with ``sigma = sigma_sleep`` while the controller's ``asleep`` bit is set and
``sigma_wake`` otherwise. The float and fixed ProcessModels run
:func:`lava_sleep.kernels.neuron.neuron_step` with NeuronConstsFloat or
FixedConstants (lava_sleep.fixed). With adaptation and noise off and
``v_reset = v_rest`` the fixed model equals Lava's ``PyLifModelBitAcc``.

With ``freeze_adaptation`` on, ``a`` stays as it is on every step while the controller's
``learn`` bit is off (evaluation: no increment, no decay, no clip).
"""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_sleep.params import ModelParams
from lava_sleep.processes.sleep_controller.process import CTRL_SIZE


class AdaptiveLIF(AbstractProcess):
    """A population of adaptive LIF neurons with noise and a sleep drive switch.

    Args:
        shape: (n,) population size.
        params: the model (neuron constants from ``params.neuron`` and ``params.fixed``).
        seed: run seed of the noise stream.
        index_offset: global index of the first neuron (0 for E, n_exc for I).
        t0: global step of the first simulated step (0 for a fresh network).

    Ports:
        a_in (n,): synaptic drive of the previous step (several pathways add up).
        ctrl_in (CTRL_SIZE,): controller's control vector (asleep, learn, record, image_end,
            rest, slot_end).
        s_out (n,): spikes (bool).
        counts_out (n,): spike counts of an image's presentation steps, sent at every image
            end (host pipe; rest steps are not counted).
        rec_out (n,): spikes, sent every step while recording (host pipe).

    Vars: u, v, a (state, see module docstring), count (spikes of the current image).
    """

    def __init__(self, *, shape: tuple[int], params: ModelParams, seed: int, index_offset: int = 0,
                 t0: int = 0, name: str | None = None):
        super().__init__(shape=shape, params=params, seed=seed, index_offset=index_offset, t0=t0,
                         name=name)
        n = shape[0]
        self.a_in = InPort(shape=(n,))
        self.ctrl_in = InPort(shape=(CTRL_SIZE,))
        self.s_out = OutPort(shape=(n,))
        self.counts_out = OutPort(shape=(n,))
        self.rec_out = OutPort(shape=(n,))
        self.u = Var(shape=(n,), init=0)
        self.v = Var(shape=(n,), init=0)
        self.a = Var(shape=(n,), init=0)
        self.count = Var(shape=(n,), init=0)
