"""Cost of a run in operations, and a Loihi-style energy estimate from them.

What is counted (per phase, wake and sleep; from the per-neuron spike totals a backend
reports in :attr:`lava_sleep.simulation.BatchOutput.activity` and the structural masks):

* ``synaptic_events``: one per spike and existing outgoing synapse, summed over the four
  pathways (a pre spike of neuron j on a pathway delivers to every post neuron it is
  connected to): ``sum_j spikes_j * out_degree_j``. Inputs (X) count as pre neurons, so
  wake events include the input drive; asleep, X is silent.
* ``neuron_updates``: every E and I neuron is updated every step
  (``(n_exc + n_inh) * steps``); ``active_neuron_updates`` are the updates in which the
  neuron spiked. Input pixels are spike sources, not neurons, and are not counted.
* ``stdp_updates``: one per spike and existing synapse of a plastic pathway on either side
  (a pre spike touches the synapse's row of its out-synapses, a post spike its in-synapses:
  ``sum_j pre_j * out_degree_j + sum_i post_i * in_degree_i``), in steps where learning runs
  (wake with learning on; sleep only when ``STDPParams.learn_in_sleep``).
* ``decay_updates`` (sleep): the homeostatic decay rewrites every existing synapse of every
  plastic pathway once per settled block (``ceil(used / block)`` blocks per episode).

Degrees come from the masks at the end of each chunk of images (exact when pruning is off;
with pruning, a chunk's synapses pruned inside it are counted as absent for the whole chunk).

Energy (:func:`energy_estimate`) multiplies the counts with the per-operation energies that
Davies et al. (2018, IEEE Micro 38(1), "Loihi: a neuromorphic manycore processor with on-chip
learning", Table 1) report for **Loihi 1 silicon**: 23.6 pJ per synaptic spike operation,
120 pJ per synaptic update (learning), 52 pJ per inactive and 81 pJ per active neuron update.
The sleep decay is charged as synaptic updates. It is an estimate from published
per-operation figures, not a measurement: it leaves out spike routing between cores,
host I/O and static power.
"""

from __future__ import annotations

import math

import numpy as np

#: Davies et al. 2018 (IEEE Micro), Loihi 1, energy per operation in picojoules.
LOIHI1_PJ = {"synaptic_event": 23.6, "synaptic_update": 120.0, "neuron_update_inactive": 52.0,
             "neuron_update_active": 81.0}
ENERGY_SOURCE = ("estimate for Loihi 1 silicon from per-operation energies of Davies et al. 2018, "
                 "IEEE Micro 38(1), Table 1; not a measurement")
PHASES = ("wake", "sleep")
COUNT_KEYS = ("steps", "synaptic_events", "neuron_updates", "active_neuron_updates", "stdp_updates",
              "decay_updates")


def empty_tally() -> dict:
    """Zero counts for both phases (JSON-able, accumulates across chunks and checkpoints)."""
    return {ph: dict.fromkeys(COUNT_KEYS, 0) for ph in PHASES}


def add_chunk(tally: dict, activity, masks: dict, params, steps: tuple[int, int], learn: bool,
              episodes: list) -> None:
    """Add one chunk of one member to ``tally`` in place.

    activity: (2, n_x + n_exc + n_inh) spike totals of the chunk (row 0 wake, row 1 sleep);
    masks: {pathway: bool (post, pre)} at the chunk's end; params: the member's ModelParams;
    steps: (wake steps, sleep steps) of the chunk; learn: whether STDP ran while awake;
    episodes: the sleep-episode records that ended in the chunk (their ``used`` steps).
    """
    act = np.asarray(activity, dtype=np.int64)
    sizes = params.sizes()
    off = {"X": 0, "E": sizes["X"], "I": sizes["X"] + sizes["E"]}
    pops = {p: slice(off[p], off[p] + sizes[p]) for p in ("X", "E", "I")}
    n_neurons = sizes["E"] + sizes["I"]
    plastic = set(params.network.plastic_pathways)
    learns = {"wake": bool(learn), "sleep": bool(learn) and params.stdp.learn_in_sleep}
    out_deg = {n: m.sum(axis=0).astype(np.int64) for n, m in masks.items()}
    in_deg = {n: m.sum(axis=1).astype(np.int64) for n, m in masks.items()}
    for k, ph in enumerate(PHASES):
        a = act[k]
        t = tally[ph]
        t["steps"] += int(steps[k])
        t["neuron_updates"] += n_neurons * int(steps[k])
        t["active_neuron_updates"] += int(a[off["E"]:].sum())
        for n in masks:
            pre = int(a[pops[n[0]]] @ out_deg[n])
            t["synaptic_events"] += pre
            if n in plastic and learns[ph]:
                t["stdp_updates"] += pre + int(a[pops[n[1]]] @ in_deg[n])
    blocks = sum(math.ceil(e["used"] / params.sleep.block) for e in episodes if e.get("used", 0) > 0)
    n_plastic_syn = sum(int(masks[n].sum()) for n in plastic)
    tally["sleep"]["decay_updates"] += blocks * n_plastic_syn


def energy_estimate(tally: dict, n_images: int, pj: dict | None = None) -> dict:
    """Loihi 1 energy estimate (microjoules) of a tally: per phase, per training image
    (wake, sleep, total; images = wake images presented) and per sleep step."""
    pj = LOIHI1_PJ if pj is None else pj
    out = {"source": ENERGY_SOURCE, "pj_per_operation": dict(pj)}
    for ph in PHASES:
        t = tally[ph]
        active = t["active_neuron_updates"]
        e = (t["synaptic_events"] * pj["synaptic_event"]
             + (t["stdp_updates"] + t["decay_updates"]) * pj["synaptic_update"]
             + active * pj["neuron_update_active"]
             + (t["neuron_updates"] - active) * pj["neuron_update_inactive"])
        out[f"{ph}_uj"] = e * 1e-6
    n = max(1, int(n_images))
    out["per_training_image_uj"] = {"wake": out["wake_uj"] / n, "sleep": out["sleep_uj"] / n,
                                    "total": (out["wake_uj"] + out["sleep_uj"]) / n}
    s = tally["sleep"]["steps"]
    out["per_sleep_step_uj"] = out["sleep_uj"] / s if s else None
    w = tally["wake"]["steps"]
    out["per_wake_step_uj"] = out["wake_uj"] / w if w else None
    return out


def cost_summary(tally: dict, n_images: int) -> dict:
    """The ``cost`` record of result.json: counts per phase, per training image (wake counts)
    and per sleep step (sleep counts), and the energy estimate."""
    n = max(1, int(n_images))
    s = tally["sleep"]["steps"]
    return {
        "counts": {ph: dict(tally[ph]) for ph in PHASES},
        "per_training_image": {k: tally["wake"][k] / n for k in COUNT_KEYS if k != "decay_updates"},
        "per_sleep_step": ({k: tally["sleep"][k] / s for k in COUNT_KEYS if k != "steps"} if s else None),
        "energy": energy_estimate(tally, n_images),
        "training_images": int(n_images),
    }
