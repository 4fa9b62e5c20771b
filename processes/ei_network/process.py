"""The E/I network as one hierarchical Lava Process (MODEL.md 1-4).

:class:`EINetwork` wires, from one :class:`~lava_sleep.params.ModelParams`:

* ``encoder``    - :class:`~lava_sleep.processes.input_encoder.process.GatedEncoder` (X),
* ``exc``, ``inh`` - :class:`~lava_sleep.processes.lif_adaptive.process.AdaptiveLIF` (E, I;
  global neuron indices 0..n_exc-1 and n_exc..n_exc+n_inh-1),
* ``xe``, ``ee``, ``ei``, ``ie`` - :class:`~lava_sleep.processes.plastic_dense.process.PlasticDense`,
* ``controller`` - :class:`~lava_sleep.processes.sleep_controller.process.SleepController`
  (the general sleep Process, managing the plastic pathways' PlasticDense Processes).

Connections (every pathway delivers with one step of delay)::

    encoder.s_out -> xe.s_in             xe.a_out, ee.a_out, ie.a_out -> exc.a_in
    exc.s_out -> ee.s_in, ei.s_in        ei.a_out -> inh.a_in
    inh.s_out -> ie.s_in
    exc.s_out -> {xe, ee, ie}.s_in_bap   inh.s_out -> ei.s_in_bap     (plastic pathways only)
    controller.ctrl_out -> encoder, exc, inh, plastic synapses (.ctrl_in)
    controller.ref_w_<i> / ref_mask_<i> -> P.weights / P.mask      (i-th plastic pathway P)

Two ProcessModels implement it (lava_sleep.processes.ei_network.models):

* the *graph* model (a SubProcessModel, tags ``floating_pt`` and ``fixed_pt``)
  builds the sub-Processes above; each then runs its own tagged model;
* the *fused* models (``floating_pt`` / ``fixed_pt``) compute all populations in
  one Lava process, avoiding Lava's per-process, per-step messaging. They run on
  Lava's AsyncProtocol: a single process has no peer to synchronise with, so one
  ``RunSteps(n)`` loops over n network steps inside the process without the
  runtime's per-step phase handshake. A step is computed either by the same
  NumPy cores as the graph's models, in the same order (``fused_kernel="numpy"``),
  or by the compiled kernel that the torch engine also uses
  (``fused_kernel="native"``, the default where a C compiler exists). Both equal
  the graph model: bit for bit in fixed point, spike for spike in float64.

Select with ``Loihi2SimCfg(select_tag=TAG, select_sub_proc_model=True)`` (graph)
or ``select_sub_proc_model=False`` (fused); see :func:`run_config`.

Host links (external pipes): ``img_in`` (next image), ``cmd_in`` (one command per
run chunk), ``counts_out`` (E spike counts per image), ``status_out`` (sleep
status per block end, totals of the plastic pathways in their order),
``rec_x``/``rec_e``/``rec_i`` (spikes per step while
recording). In the graph model these pipes are opened on the sub-Processes'
ports; :func:`host_port` returns the port that carries each pipe. The Vars below
hold the network state (the graph model aliases them to its sub-Processes).
"""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from lava_sleep.network import NetworkInit, build_network, pathway_shape
from lava_sleep.params import PATHWAY_NAMES, ModelParams
from lava_sleep.processes.sleep_controller.process import CMD_SIZE, status_size

#: Buffer sizes of the host pipes (messages). The host plans its run chunks so
#: that no pipe ever holds more than this between two host reads.
IMAGE_PIPE = 64
COUNT_PIPE = 64
REC_PIPE = 512
STATUS_PIPE = 4
CMD_PIPE = 4

#: Host pipe name -> (sub-Process attribute in the graph model, its port name).
HOST_PORTS = {
    "img_in": ("encoder", "img_in"),
    "cmd_in": ("controller", "cmd_in"),
    "counts_out": ("exc", "counts_out"),
    "status_out": ("controller", "status_out"),
    "rec_x": ("encoder", "rec_out"),
    "rec_e": ("exc", "rec_out"),
    "rec_i": ("inh", "rec_out"),
}
PIPE_SIZES = {"img_in": IMAGE_PIPE, "cmd_in": CMD_PIPE, "counts_out": COUNT_PIPE,
              "status_out": STATUS_PIPE, "rec_x": REC_PIPE, "rec_e": REC_PIPE, "rec_i": REC_PIPE}

#: Step implementations of the fused model (see EINetwork).
FUSED_KERNELS = ("auto", "native", "numpy")

#: Population traces: x_* are pre traces (tau_plus), y_* post traces (tau_minus).
TRACES = ("x_X", "x_E", "x_I", "y_E", "y_I")


def trace_sources(params: ModelParams) -> dict[str, tuple[str, str]]:
    """Which plastic synapse holds each population trace in the graph model.

    Returns {trace: (pathway, "x_pre" | "y_post")}; traces of populations with no
    plastic pathway on that side are not tracked by the graph model.
    """
    out = {}
    for n in params.network.plastic_pathways:
        out.setdefault(f"x_{n[0]}", (n, "x_pre"))
        out.setdefault(f"y_{n[1]}", (n, "y_post"))
    return {k: out[k] for k in TRACES if k in out}


class EINetwork(AbstractProcess):
    """The E/I network with plastic pathways and the sleep controller.

    Args:
        params: the model (sizes, pathways, neuron, STDP, sleep, fixed point).
        seed: run seed of every random stream.
        init: masks and initial magnitudes (default: ``build_network(params, seed)``).
        fused_kernel: how the fused model computes a step: "native" (the compiled kernel of
            lava_sleep.kernels.native; needs a C compiler), "numpy" (the NumPy cores of the
            sub-Processes' models) or "auto" (native when a C compiler exists, else numpy).
            The graph model ignores it.
    """

    def __init__(self, *, params: ModelParams, seed: int, init: NetworkInit | None = None,
                 fused_kernel: str = "auto", name: str | None = None):
        if fused_kernel not in FUSED_KERNELS:
            raise ValueError(f"fused_kernel must be one of {FUSED_KERNELS}, got {fused_kernel!r}")
        init = init if init is not None else build_network(params, seed)
        super().__init__(params=params, seed=seed, init=init, fused_kernel=fused_kernel, name=name)
        sizes = params.sizes()
        n_x, n_e, n_i = sizes["X"], sizes["E"], sizes["I"]
        # host links
        self.img_in = InPort(shape=(n_x,))
        self.cmd_in = InPort(shape=(CMD_SIZE,))
        self.counts_out = OutPort(shape=(n_e,))
        self.status_out = OutPort(shape=(status_size(len(params.network.plastic_pathways)),))
        self.rec_x = OutPort(shape=(n_x,))
        self.rec_e = OutPort(shape=(n_e,))
        self.rec_i = OutPort(shape=(n_i,))
        for pipe, size in PIPE_SIZES.items():
            getattr(self, pipe).flag_external_pipe(buffer_size=size)
        # state
        for pop, n in (("E", n_e), ("I", n_i)):
            for var in ("u", "v", "a"):
                setattr(self, f"{var}_{pop}", Var(shape=(n,), init=0))
        self.count_E = Var(shape=(n_e,), init=0)
        self.wake_t = Var(shape=(1,), init=0)
        for n in PATHWAY_NAMES:
            shape = pathway_shape(params, n)
            setattr(self, f"w_{n}", Var(shape=shape, init=0))
            setattr(self, f"mask_{n}", Var(shape=shape, init=0))
            setattr(self, f"acc_{n}", Var(shape=shape, init=0))
            setattr(self, f"a_buff_{n}", Var(shape=(shape[0],), init=0))
        for tr in TRACES:
            setattr(self, tr, Var(shape=(sizes[tr[-1]],), init=0))


def run_config(mode: str, model: str):
    """The Loihi2SimCfg that selects the float/fixed, graph/fused models.

    mode: "float" (tag ``floating_pt``) or "fixed" (``fixed_pt``); model: "graph"
    (the SubProcessModel) or "fused" (the single-process model).
    """
    from lava.magma.core.run_configs import Loihi2SimCfg

    if mode not in ("float", "fixed") or model not in ("graph", "fused"):
        raise ValueError(f"mode must be float|fixed and model graph|fused, got {mode!r}, {model!r}")
    tag = "floating_pt" if mode == "float" else "fixed_pt"
    return Loihi2SimCfg(select_tag=tag, select_sub_proc_model=model == "graph")


def host_port(net: EINetwork, pipe: str):
    """The leaf port that carries host pipe ``pipe`` after compilation."""
    if net.procs.is_empty():
        return getattr(net, pipe)
    child, port = HOST_PORTS[pipe]
    return getattr(getattr(net.procs, child), port)
