"""Operation counts and the Loihi energy estimate (lava_sleep.energy) against hand-derived values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lava_sleep import energy
from lava_sleep import params as P


@pytest.fixture
def tiny():
    """2 inputs, 2 E, 1 I; XE and EE plastic (paper defaults), sleep block 10."""
    base = P.paper()
    return dataclasses.replace(
        base, input=dataclasses.replace(base.input, image_size=2),  # 4 inputs
        network=dataclasses.replace(base.network, n_exc=2, n_inh=1))


def _masks():
    # (post, pre); out-degree = column sums, in-degree = row sums
    return {"XE": np.array([[1, 0, 1, 1], [1, 1, 0, 0]], bool),   # X out 2,1,1,1; E in 3,2
            "EE": np.array([[0, 1], [0, 0]], bool),               # E out 0,1; E in 1,0
            "EI": np.array([[1, 1]], bool),                       # E out 1,1; I in 2
            "IE": np.array([[1], [1]], bool)}                     # I out 2; E in 1,1


def test_counts_by_hand(tiny):
    # wake row: X spikes 3,0,1,2; E 4,1; I 2.  sleep row: X 0 (gated); E 1,5; I 3
    act = np.array([[3, 0, 1, 2, 4, 1, 2],
                    [0, 0, 0, 0, 1, 5, 3]])
    t = energy.empty_tally()
    energy.add_chunk(t, act, _masks(), tiny, (100, 30), True,
                     [{"used": 25}, {"used": 5}, {"used": 0}])
    w, s = t["wake"], t["sleep"]
    # synaptic events: XE 3*2+0+1*1+2*1 = 9; EE 4*0+1*1 = 1; EI 4*1+1*1 = 5; IE 2*2 = 4
    assert w["synaptic_events"] == 9 + 1 + 5 + 4
    # asleep: XE 0; EE 1*0+5*1 = 5; EI 1+5 = 6; IE 3*2 = 6
    assert s["synaptic_events"] == 0 + 5 + 6 + 6
    assert w["neuron_updates"] == 3 * 100 and s["neuron_updates"] == 3 * 30
    assert w["active_neuron_updates"] == 4 + 1 + 2 and s["active_neuron_updates"] == 1 + 5 + 3
    # STDP on plastic XE and EE: pre events + post spikes x in-degree
    # wake: XE 9 + (4*3 + 1*2) = 23; EE 1 + (4*1 + 1*0) = 5
    assert w["stdp_updates"] == 23 + 5
    # sleep (learn_in_sleep on): XE 0 + (1*3 + 5*2) = 13; EE 5 + (1*1 + 0) = 6
    assert s["stdp_updates"] == 13 + 6
    # decay: ceil(25/10) + ceil(5/10) = 4 blocks x plastic synapses (XE 5 + EE 1)
    assert s["decay_updates"] == 4 * 6 and w["decay_updates"] == 0
    assert (w["steps"], s["steps"]) == (100, 30)


def test_learning_off_and_sleep_learning_off(tiny):
    act = np.array([[1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1]])
    t = energy.empty_tally()
    energy.add_chunk(t, act, _masks(), tiny, (10, 10), False, [])
    assert t["wake"]["stdp_updates"] == 0 and t["sleep"]["stdp_updates"] == 0
    no_sleep_learning = dataclasses.replace(tiny, stdp=dataclasses.replace(tiny.stdp, learn_in_sleep=False))
    t = energy.empty_tally()
    energy.add_chunk(t, act, _masks(), no_sleep_learning, (10, 10), True, [])
    assert t["wake"]["stdp_updates"] > 0 and t["sleep"]["stdp_updates"] == 0


def test_energy_constants_and_per_image():
    t = energy.empty_tally()
    t["wake"].update(steps=10, synaptic_events=1000, neuron_updates=50, active_neuron_updates=5,
                     stdp_updates=200)
    t["sleep"].update(steps=4, synaptic_events=100, neuron_updates=20, active_neuron_updates=2,
                      stdp_updates=10, decay_updates=30)
    e = energy.energy_estimate(t, n_images=2)
    wake_pj = 1000 * 23.6 + 200 * 120 + 5 * 81 + 45 * 52
    sleep_pj = 100 * 23.6 + 40 * 120 + 2 * 81 + 18 * 52
    assert e["wake_uj"] == pytest.approx(wake_pj * 1e-6)
    assert e["sleep_uj"] == pytest.approx(sleep_pj * 1e-6)
    assert e["per_training_image_uj"]["total"] == pytest.approx((wake_pj + sleep_pj) * 1e-6 / 2)
    assert e["per_sleep_step_uj"] == pytest.approx(sleep_pj * 1e-6 / 4)
    assert "Loihi 1" in e["source"] and "not a measurement" in e["source"]
    c = energy.cost_summary(t, 2)
    assert c["per_training_image"]["synaptic_events"] == 500
    assert c["per_sleep_step"]["decay_updates"] == 30 / 4


def test_no_sleep_has_no_per_sleep_step():
    t = energy.empty_tally()
    t["wake"]["steps"] = 5
    assert energy.energy_estimate(t, 1)["per_sleep_step_uj"] is None
    assert energy.cost_summary(t, 1)["per_sleep_step"] is None
