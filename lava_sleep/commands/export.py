"""``lava-sleep export RUN_DIR --format nir|loihi OUT``: the trained network in another format."""

from __future__ import annotations

from lava_sleep.export import FORMATS

HELP = ("export a trained STDP run's network to a file of another format (nir: a NIR graph; loihi: a "
        "Loihi 2 deployment file, JSON, needs lava-nc; docs/export.md)")


def add_arguments(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder of a finished STDP run (holds model.npz)")
    p.add_argument("out", metavar="OUT", help="file to write, e.g. model.nir or model.loihi.json "
                                              "(replaced atomically)")
    p.add_argument("--format", dest="fmt", default=FORMATS[0], choices=FORMATS,
                   help=f"export format: {' | '.join(FORMATS)} (default {FORMATS[0]})")


def run(args) -> int:
    from lava_sleep.export import export_run

    summary = export_run(args.run_dir, args.out, args.fmt)
    if summary["format"] == "loihi":
        pws = ", ".join(f"{k} {v['synapses']}{' plastic' if v['plastic'] else ''}"
                        for k, v in summary["pathways"].items())
        print(f"wrote {summary['out']} (loihi, {summary['bytes']:,} bytes, {summary['mode']} run; "
              f"pathways {pws}; estimated {summary['cores']} Loihi 2 cores)")
        return 0
    syn = ", ".join(f"{k} {v}" for k, v in summary["synapses"].items())
    print(f"wrote {summary['out']} ({summary['format']}, {summary['bytes']:,} bytes, {summary['mode']} "
          f"run; nodes {', '.join(summary['nodes'])}; synapses {syn})")
    return 0
