"""``lava-sleep demo``: the paper-size network on the reference model, one sleep episode."""

from __future__ import annotations

import dataclasses

import numpy as np

HELP = "run the main demo (reference model, one sleep episode)"


def add_arguments(p):
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")


def run(args) -> int:
    from lava_sleep import params as P
    from lava_sleep.reference import ReferenceSimulator

    base = P.paper()
    prm = dataclasses.replace(
        base,
        input=dataclasses.replace(base.input, steps_per_image=200),
        sleep=dataclasses.replace(base.sleep, fraction=0.2, period=1000, tol=0.0),
    )
    rs = np.random.default_rng(args.seed)
    images = (rs.random((5, prm.n_input)) * 255).astype(np.uint8)
    sim = ReferenceSimulator(prm, args.seed)

    def show(label, steps, counts_e):
        rate = counts_e / max(steps, 1) * 1000.0 / prm.network.n_exc
        tot = ", ".join(f"{k} {v:.1f}" for k, v in sim.totals().items())
        print(f"{label:<14} steps {steps:5d}  E rate {rate:6.2f} Hz  |w| totals: {tot}")

    show("initial", 0, 0)
    out = sim.run(images, record_spikes=True)
    sp = out.spikes
    wake = ~sp["asleep"]
    first_sleep = int(np.argmax(sp["asleep"]))
    show("wake before", first_sleep, int(sp["E"][:first_sleep].sum()))
    show("sleep", int(sp["asleep"].sum()), int(sp["E"][sp["asleep"]].sum()))
    after = wake.copy()
    after[:first_sleep] = False
    show("wake after", int(after.sum()), int(sp["E"][after].sum()))
    for e in out.episodes:
        print(f"sleep episode {e['episode']}: planned {e['planned']} steps, used {e['used']}")
    return 0
