"""Plastic dense synapse Process (MODEL.md 1 and 3, docs/model.md "Trace STDP").

One pathway P (XE, EE, EI or IE) as a (post x pre) matrix of magnitudes
``m = |w| >= 0`` with a structural mask and the pathway's fixed sign (+1 for X/E
sources, -1 for I), so the sign invariant holds by construction and absent
synapses stay exactly 0.

Spiking phase of step t (Lava Dense semantics: one step of delay):

1. send ``a_buff`` (the drive computed at step t-1) on ``a_out``;
2. receive pre spikes s_j(t) on ``s_in`` and post spikes s_i(t) on ``s_in_bap``
   (the back-propagated spikes of the post population);
3. ``a_buff <- sign * m @ s(t)`` with the weights *before* this step's learning
   (fixed: ``sign * (((m @ s) * w_mult_P) >> 8)``, integer u units; w_scale "pow2":
   ``sign * (m @ s) << shift_P``);
4. traces decay (``x <- x k_plus``, ``y <- y k_minus``; fixed ``(x k + r) >> 12`` with r per
   ``FixedParams.trace_rounding``: stochastic r = uniform_u32(key(seed, TRACE_ROUND, t, 0 pre /
   1 post), network-wide trace index) >> 20, so every copy of a population's trace draws the
   same bits; nearest r = 2048; floor r = 0), and if
   learning is active (controller ``learn`` bit, and awake or ``learn_in_sleep``)::

       stdp:    dm_ij = eta+ x_j s_i (m_max - m)^mu  -  eta- y_i s_j m^mu
       vogels:  dm_ij = eta+ x_j s_i  +  eta- (y_i - alpha) s_j
       diehl_cook: dm_ij = eta+ (x_j - alpha) s_i (m_max - m)^mu  -  eta- y_i s_j m^mu

   accumulates into ``acc`` (masked); then traces take this step's spikes (fixed:
   ``+ trace_impulse``, saturating at trace_max = 2**trace_bits - 1);
5. at the end of every learning epoch ((t + 1) % t_epoch == 0) the accumulator
   is applied: ``m <- clip(m + acc, m_min, m_max)`` (fixed: ``m + ((acc + r) >>
   dw_frac_bits)`` with r per ``FixedParams.dw_rounding``: stochastic r =
   uniform_u32(key(seed, STDP_ROUND + P, t // t_epoch), synapse) >> (32 - dw_frac_bits),
   per-synapse seeded; nearest r = 2**(dw_frac_bits - 1); floor r = 0);
6. per-image normalization (``normalize``): at the controller's ``slot_end`` bit while
   ``learn`` is set, each row is rescaled to its initial total, ``m <- m T0_i / T_i`` (fixed:
   ``(A_i m + r) >> decay_frac_bits`` with ``A_i = (2**D T0_i) // T_i`` and r =
   uniform_u32(key(seed, DECAY + P, t + 1, 2), synapse) >> (32 - D)), clipped and masked
   (lava_sleep.kernels.sleep.normalize_consts).

The update is event driven (only rows of spiking post neurons and columns of
spiking pre neurons are touched) and equals the dense oracle value for value.
Sleep decay is applied from outside (the sleep controller edits ``weights`` and
``mask`` through RefPorts in the management phase). A pathway with
``plastic=False`` only propagates (no ctrl, no back-propagated spikes needed).

Units: float magnitudes in weight units (the neuron multiplies by its gain);
fixed magnitudes are ``w_bits``-bit integers (default 8) of ``lsb_P`` weight
units (lava_sleep.fixed.PathwayFixed), accumulators in 2**-dw_frac_bits LSB.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_sleep.network import pathway_shape
from lava_sleep.params import ModelParams
from lava_sleep.processes.sleep_controller.process import CTRL_SIZE


class PlasticDense(AbstractProcess):
    """Dense synapse of one pathway with trace STDP.

    Args:
        pathway: "XE", "EE", "EI" or "IE" (plasticity, rule and bounds from params).
        params: the model. seed: run seed (stochastic rounding stream).
        weights: initial float magnitudes (post, pre), >= 0.
        mask: structural mask (post, pre), bool.
        t0: global step of the first simulated step.

    The models set their Vars from ``weights``/``mask`` at the first step (the
    fixed model quantizes them with lava_sleep.fixed.quantize_weights).

    Ports: s_in (n_pre,), s_in_bap (n_post,), ctrl_in (CTRL_SIZE,), a_out (n_post,).
    Vars: weights, mask (post, pre); acc (post, pre); x_pre (n_pre,); y_post (n_post,);
    a_buff (n_post,).
    """

    def __init__(self, *, pathway: str, params: ModelParams, seed: int, weights: np.ndarray,
                 mask: np.ndarray, t0: int = 0, name: str | None = None):
        shape = pathway_shape(params, pathway)
        weights = np.asarray(weights, dtype=np.float64)
        mask = np.asarray(mask, dtype=bool)
        if weights.shape != shape or mask.shape != shape:
            raise ValueError(f"pathway {pathway}: weights and mask must have shape {shape}")
        super().__init__(pathway=pathway, params=params, seed=seed, weights=weights, mask=mask,
                         t0=t0, name=name)
        n_post, n_pre = shape
        self.s_in = InPort(shape=(n_pre,))
        self.s_in_bap = InPort(shape=(n_post,))
        self.ctrl_in = InPort(shape=(CTRL_SIZE,))
        self.a_out = OutPort(shape=(n_post,))
        self.weights = Var(shape=shape, init=0)
        self.mask = Var(shape=shape, init=0)
        self.acc = Var(shape=shape, init=0)
        self.x_pre = Var(shape=(n_pre,), init=0)
        self.y_post = Var(shape=(n_post,), init=0)
        self.a_buff = Var(shape=(n_post,), init=0)
