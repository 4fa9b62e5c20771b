"""``lava-sleep eval RUN_DIR --data PATH``: accuracies of a saved run on new images (JSON)."""

from __future__ import annotations

import json

HELP = "evaluate a trained run on images from an IDX folder or .npz file (prints JSON)"


def add_arguments(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder of a finished run (holds model.npz)")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="IDX folder or .npz with images (N x H x W uint8) and labels (N)")
    p.add_argument("--backend", default=None,
                   help="simulator backend (default: the run's numpy/torch backend, else auto)")
    p.add_argument("--device", default=None, help="torch device (default cpu)")
    p.add_argument("--max-images", type=int, default=None, metavar="N", help="use the first N images only")


def run(args) -> int:
    from lava_sleep.experiment.evaluate import evaluate_run

    result = evaluate_run(args.run_dir, args.data, backend=args.backend, device=args.device,
                          max_images=args.max_images)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
