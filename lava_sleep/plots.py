"""Plots (PNG, matplotlib's Agg canvas, no pyplot state) of runs, comparisons and sweeps.

Per run (``RUN_DIR/plots/``):

* ``health.png`` - total |w| and share of synapses at the clip bounds per plastic
  pathway over training, sleep episodes shaded;
* ``weights_hist.png`` - |w| histograms: initial vs final, and (when recorded) just
  before vs just after the first sleep episode;
* ``receptive_fields.png`` - X->E weights of E neurons reshaped to images, titled by
  the neuron's assigned class;
* ``raster.png`` - spikes across the first wake-sleep-wake transition (sleep shaded).

Studies (``lava-sleep normalization-study``): :func:`plot_accuracy_by_setting` (accuracy vs
sleep fraction, one line per setting), :func:`plot_receptive_field_panels` (X->E receptive-field
grids of several networks side by side, from weights: :func:`receptive_field_mosaic`) and
:func:`plot_health_arms` (weight health over training, one line per run).

Comparison of several runs (the demo) and sweeps: ``accuracy_vs_sleep.png`` (held-out
accuracy vs sleep fraction, error bars = 95 % CI over seeds when there are several, with the
raw-pixel and untrained-network baselines as horizontal lines), ``generalization.png``
(training vs held-out accuracy and their gap), ``energy.png`` (Loihi 1 energy estimate per
training image, wake and sleep), ``health.png`` with all runs overlaid (demo),
``weights_final_hist.png`` (demo).

:func:`plot_path` picks the right set for a folder (``lava-sleep plot``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lava_sleep.experiment import files
from lava_sleep.experiment.config import RunError
from lava_sleep.params import PATHWAY_NAMES

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
          "tab:gray", "tab:olive", "tab:cyan")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    import io

    from lava_sleep.io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _plastic(result: dict) -> list[str]:
    pws = result.get("config", {}).get("network", {}).get("pathways", {})
    names = [n for n in PATHWAY_NAMES if pws.get(n, {}).get("plastic")]
    return names or ["XE"]


def _shade_episodes(ax, episodes, color="0.5", alpha=0.15, max_spans=2000):
    eps = [e for e in episodes if e.get("used", 0) > 0][:max_spans]
    for e in eps:
        ax.axvspan(e["start_step"], e["start_step"] + e["used"], color=color, alpha=alpha, lw=0)


def plot_health(runs: list[tuple[str, dict]], path) -> Path:
    """Total |w| and saturation per plastic pathway over training, episodes shaded."""
    names = _plastic(runs[0][1])
    fig = _figure(4.2 * len(names), 6.0)
    axes = fig.subplots(2, len(names), squeeze=False, sharex="col")
    for k, (label, r) in enumerate(runs):
        color = COLORS[k % len(COLORS)]
        hist = r.get("health", [])
        x = np.array([h["step"] for h in hist], dtype=float)
        for j, n in enumerate(names):
            tot = [h["pathways"][n]["total"] for h in hist]
            sat = [100 * h["pathways"][n]["saturation"] for h in hist]
            axes[0, j].plot(x, tot, color=color, label=label)
            axes[1, j].plot(x, sat, color=color, label=label)
            if r.get("episodes"):
                for row in (0, 1):
                    _shade_episodes(axes[row, j], r["episodes"], color=color, alpha=0.12)
    for j, n in enumerate(names):
        axes[0, j].set_title(f"{n}: total |w|")
        axes[1, j].set_title(f"{n}: synapses at clip bounds (%)")
        axes[1, j].set_xlabel("simulated steps (ms); shaded: sleep")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _initial_magnitudes(result: dict):
    from lava_sleep.network import build_network
    from lava_sleep.params import ModelParams

    p = ModelParams.from_dict(result["config"])
    init = build_network(p, int(result["seed"]))
    return init.magnitudes, init.masks


def plot_weight_hist(run_dir, path) -> Path:
    """|w| histograms of the plastic pathways: initial vs final (and around the first sleep)."""
    run_dir = Path(run_dir)
    r = files.read_result(run_dir)
    arrays, _ = files.read_model(run_dir)
    names = _plastic(r)
    init, masks0 = _initial_magnitudes(r)
    raster = run_dir / files.RASTER
    rz = files.load_npz_dict(raster, "raster file") if raster.exists() else None
    rows = 2 if rz is not None and f"w_before_{names[0]}" in rz else 1
    fig = _figure(4.2 * len(names), 3.2 * rows)
    axes = fig.subplots(rows, len(names), squeeze=False)
    for j, n in enumerate(names):
        mask = arrays[f"mask_{n}"].astype(bool)
        w_max = r["config"]["network"]["pathways"][n]["w_max"]
        bins = np.linspace(0, w_max, 41)
        ax = axes[0, j]
        ax.hist(init[n][masks0[n]], bins=bins, alpha=0.6, label="initial")
        ax.hist(np.abs(arrays[f"w_{n}"][mask]), bins=bins, alpha=0.6, label="final")
        ax.set_title(f"{n}: |w| initial vs final")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
        if rows == 2:
            ax = axes[1, j]
            wb, wa = np.abs(rz[f"w_before_{n}"]), np.abs(rz[f"w_after_{n}"])
            mb = wb > 0
            ax.hist(wb[mb], bins=bins, alpha=0.6, label="window start (before first sleep)")
            ax.hist(wa[wa > 0], bins=bins, alpha=0.6, label="window end (after first sleep)")
            ax.set_title(f"{n}: around the first sleep episode")
            ax.set_yscale("log")
            ax.legend(fontsize=8)
            ax.set_xlabel("|w|")
    fig.tight_layout()
    return _save(fig, path)


def plot_receptive_fields(run_dir, path, max_neurons: int = 100) -> Path:
    """X->E weights of (up to) ``max_neurons`` E neurons as images, titled by assigned class."""
    run_dir = Path(run_dir)
    arrays, config = files.read_model(run_dir)
    w = np.abs(arrays["w_XE"])
    size = int(config["image_size"])
    n = min(max_neurons, w.shape[0])
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig = _figure(1.1 * cols, 1.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    assign = arrays.get("assignments")
    classes = config.get("classes", [])
    vmax = float(w.max()) if w.size and w.max() > 0 else 1.0
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k >= n:
            continue
        ax.imshow(w[k].reshape(size, size), cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        if assign is not None:
            a = int(assign[k])
            ax.set_title(classes[a] if 0 <= a < len(classes) else "-", fontsize=7)
    fig.suptitle("X->E receptive fields (title: assigned class)", fontsize=9)
    return _save(fig, path)


def _accuracy_axes(ax, title: str, title_size, legend_size) -> None:
    """Title, labels, grid and legend of a held-out accuracy vs sleep fraction panel."""
    ax.set_title(title, fontsize=title_size)
    ax.set_xlabel("sleep fraction (%)")
    ax.set_ylabel("held-out accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)


def receptive_field_mosaic(w_xe, image_size: int, max_neurons: int = 100, cols: int | None = None):
    """X->E weights (post, pre) of up to ``max_neurons`` E neurons as one image: each neuron's
    |w| reshaped to image_size x image_size, tiled row by row, one NaN pixel between tiles.
    Returns (mosaic float array, number of neurons shown)."""
    w = np.abs(np.asarray(w_xe, dtype=np.float64))
    if w.ndim != 2 or w.shape[1] != image_size * image_size:
        raise ValueError(f"X->E weights (n_exc, {image_size * image_size}) expected, got {w.shape}")
    n = min(max_neurons, w.shape[0])
    cols = cols or max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, int(np.ceil(n / cols)))
    s = image_size
    out = np.full((rows * (s + 1) - 1, cols * (s + 1) - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (s + 1):r * (s + 1) + s, c * (s + 1):c * (s + 1) + s] = w[k].reshape(s, s)
    return out, n


def plot_receptive_field_panels(panels: list[tuple[str, np.ndarray]], image_size: int, path,
                                max_neurons: int = 100, title: str = "") -> Path:
    """X->E receptive fields of several networks side by side: one panel per (title, X->E weights
    (post, pre)), each a grid of its E neurons' |w| as image_size x image_size images, colour
    scale per panel from 0 to its largest weight (e.g. arms of a study, or one network after
    successive chunks of training)."""
    fig = _figure(3.2 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, w) in zip(axes, panels, strict=True):
        mosaic, n = receptive_field_mosaic(w, image_size, max_neurons)
        vmax = float(np.nanmax(mosaic)) if np.isfinite(mosaic).any() else 1.0
        ax.imshow(np.ma.masked_invalid(mosaic), cmap="viridis", vmin=0, vmax=vmax if vmax > 0 else 1.0,
                  interpolation="nearest")
        ax.set_title(f"{label}\n({n} E neurons, max |w| {vmax:.2g})", fontsize=8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94) if title else None)
    return _save(fig, path)


#: Weight-health measures of :func:`plot_health_arms`: key of metrics.pathway_health -> (title, scale).
HEALTH_MEASURES = {"mean": ("mean |w|", 1.0), "std": ("sd of |w|", 1.0),
                   "in_cv": ("CV of per-neuron incoming totals", 1.0),
                   "saturation": ("synapses at clip bounds (%)", 100.0)}


def plot_health_arms(series: dict, path, pathway: str = "XE", measures=tuple(HEALTH_MEASURES)) -> Path:
    """Weight health over training of several runs: one row per group (e.g. dataset), one column
    per measure of :data:`HEALTH_MEASURES`, one line per run. ``series``: {group: [(label,
    health history of result.json)]}; x = training images seen."""
    groups = list(series)
    fig = _figure(3.6 * len(measures), 3.0 * len(groups) + 0.4)
    axes = fig.subplots(len(groups), len(measures), squeeze=False)
    for i, g in enumerate(groups):
        for k, (label, hist) in enumerate(series[g]):
            x = np.array([h["images"] for h in hist], dtype=float)
            for j, m in enumerate(measures):
                y = np.array([h["pathways"][pathway][m] for h in hist], dtype=float) * HEALTH_MEASURES[m][1]
                axes[i, j].plot(x, y, color=COLORS[k % len(COLORS)], label=label, lw=1.3)
        for j, m in enumerate(measures):
            axes[i, j].set_title(f"{g}: {pathway} {HEALTH_MEASURES[m][0]}", fontsize=9)
            axes[i, j].set_xlabel("training images seen")
            axes[i, j].grid(alpha=0.3)
        axes[i, 0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_by_setting(cells: list[dict], path, baselines: list[dict] | None = None,
                             metrics=(("linear_accuracy", "linear readout"),
                                      ("assignment_accuracy", "label assignment"))) -> Path:
    """Held-out accuracy vs sleep fraction with one line per setting (e.g. per-image
    normalization off / on): one column per dataset, one row per metric, 95 % CI bars, and the
    baselines of that metric (raw pixels, untrained network) as horizontal lines.
    ``cells``: rows with dataset, setting (line label), fraction and {metric: statistics}
    (:func:`lava_sleep.summary.seed_stats`)."""
    datasets = list(dict.fromkeys(c["dataset"] for c in cells))
    settings = list(dict.fromkeys(c["setting"] for c in cells))
    fig = _figure(4.6 * len(datasets), 3.6 * len(metrics))
    axes = fig.subplots(len(metrics), len(datasets), squeeze=False)
    for j, ds in enumerate(datasets):
        for i, (metric, name) in enumerate(metrics):
            ax = axes[i, j]
            for k, setting in enumerate(settings):
                sel = sorted((c for c in cells if c["dataset"] == ds and c["setting"] == setting
                              and (c.get(metric) or {}).get("mean") is not None), key=lambda c: c["fraction"])
                if not sel:
                    continue
                x = np.array([100 * c["fraction"] for c in sel])
                y = np.array([100 * c[metric]["mean"] for c in sel])
                err = np.array([100 * (c[metric].get("ci95") or 0.0) for c in sel])
                ax.errorbar(x, y, yerr=err, fmt="-o" if k == 0 else "--s", capsize=3,
                            color=COLORS[k % len(COLORS)], label=setting)
            _baseline_lines(ax, [b for b in baselines or [] if b["dataset"] == ds], metrics=(metric,))
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(lo, 0.0), min(hi, 100.0))  # CI bars of few seeds can leave [0, 100]
            _accuracy_axes(ax, f"{ds}: {name}", 9, 7)
    fig.tight_layout()
    return _save(fig, path)


_AXIS_NAMES = {"w_bits": "weight bits", "trace_bits": "trace bits", "dw_frac_bits": "update fraction bits",
               "decay_frac_bits": "decay fraction bits",
               "w_scale": "scale", "rounding": "rounding"}


def _quant_groups(rows: list[dict], x: str, lines: list[str], fraction: float) -> dict:
    """Fixed-point rows of one sleep fraction grouped by the values of the ``lines`` axes, each
    group sorted by ``x``."""
    groups: dict[str, list] = {}
    for r in rows:
        if r["cell"] == "float" or r["fraction"] != fraction:
            continue
        label = ", ".join(f"{r[a]}" if a == "rounding" else f"{_AXIS_NAMES.get(a, a)} {r[a]}" for a in lines)
        groups.setdefault(label, []).append(r)
    return {k: sorted(v, key=lambda r: r[x]) for k, v in groups.items()}


def _quant_grid(rows, x, lines, fractions, path, metrics, value, reference, ylabel, title, height=3.6):
    """Shared layout of the quantization plots: one row per metric, one column per sleep
    fraction; per panel one line per group of :func:`_quant_groups` with ``value(row, metric)``
    -> (y, error) or None, then ``reference(ax, float_row, metric)`` (the float64 cell)."""
    fig = _figure(4.8 * len(fractions), height * len(metrics))
    axes = fig.subplots(len(metrics), len(fractions), squeeze=False)
    for j, f in enumerate(fractions):
        groups = _quant_groups(rows, x, lines, f)
        ref = next((r for r in rows if r["cell"] == "float" and r["fraction"] == f), None) or {}
        for i, (metric, name) in enumerate(metrics):
            ax = axes[i, j]
            for k, (label, grp) in enumerate(groups.items()):
                pts = [(r[x], *v) for r in grp if (v := value(r, metric)) is not None]
                if pts:
                    xs, ys, errs = zip(*pts, strict=True)
                    ax.errorbar(xs, ys, yerr=errs, fmt="-o", capsize=3, color=COLORS[k % len(COLORS)],
                                label=label, ms=4)
            reference(ax, ref, metric)
            ax.set_title(title(name, f), fontsize=9)
            ax.set_xlabel(_AXIS_NAMES.get(x, x))
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


def plot_quant_accuracy(rows: list[dict], x: str, lines: list[str], fractions: list[float], path,
                        metrics=(("linear_accuracy", "linear readout"),), baselines=None) -> Path:
    """Held-out accuracy vs a width axis ``x`` (e.g. "w_bits"): one line per value of the
    ``lines`` axes (e.g. rounding mode) with 95 % CI bars, the float64 cell as a horizontal
    line with its CI band, and the raw-pixel / untrained baselines; one row per metric, one
    column per sleep fraction. ``rows``: lava_sleep.quant_study summary rows."""

    def value(r, metric):
        st = r.get(metric) or {}
        return None if st.get("mean") is None else (100 * st["mean"], 100 * (st.get("ci95") or 0.0))

    def reference(ax, ref, metric):
        st = ref.get(metric) or {}
        if st.get("mean") is not None:
            ax.axhline(100 * st["mean"], color="k", lw=1.5, label="float64")
            if st.get("ci95"):
                ax.axhspan(100 * st["lo"], 100 * st["hi"], color="k", alpha=0.1, lw=0)
        _baseline_lines(ax, baselines or [], metrics=(metric,))
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, 0.0), min(hi, 100.0))  # CI bars of few seeds can leave [0, 100]

    return _quant_grid(rows, x, lines, fractions, path, metrics, value, reference, "held-out accuracy (%)",
                       lambda name, f: f"{name}, sleep {100 * f:g} %")


def plot_quant_sleep_benefit(rows: list[dict], x: str, lines: list[str], path,
                             metrics=(("linear_accuracy", "linear readout"),)) -> Path:
    """Sleep benefit (paired difference sleep minus no sleep, percentage points, 95 % CI) vs a
    width axis ``x``, one line per value of the ``lines`` axes, the float64 cell's benefit as a
    horizontal line; one row per metric, one column per sleep fraction > 0."""

    def value(r, metric):
        d = r.get("sleep_benefit_" + metric) or {}
        return None if d.get("diff_pp") is None else (d["diff_pp"], d.get("ci95_pp") or 0.0)

    def reference(ax, ref, metric):
        d = ref.get("sleep_benefit_" + metric) or {}
        if d.get("diff_pp") is not None:
            ax.axhline(d["diff_pp"], color="k", lw=1.5, label="float64")
        ax.axhline(0.0, color="0.5", lw=0.8, ls=":")

    fractions = sorted({r["fraction"] for r in rows if r["fraction"] > 0})
    return _quant_grid(rows, x, lines, fractions, path, metrics, value, reference, "sleep benefit (pp)",
                       lambda name, f: f"{name}: sleep {100 * f:g} % minus no sleep", height=3.4)


def plot_quant_gain(records: list[dict], path, metrics=(("linear_accuracy", "linear readout"),)) -> Path:
    """Accuracy of every run of a quantization study vs its E neurons' mean rate on the held-out
    images (the network's gain): colour = rounding mode (black: float64), marker = sleep
    fraction; one panel per metric. ``records``: runs.jsonl lines of lava_sleep.quant_study."""
    fig = _figure(4.8 * len(metrics), 3.8)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    roundings = list(dict.fromkeys(r["rounding"] for r in records if r.get("rounding")))
    fractions = sorted({r["fraction"] for r in records})
    markers = "os^Dv"
    for ax, (metric, name) in zip(axes, metrics, strict=True):
        for k, rnd in enumerate([None] + roundings):
            for i, f in enumerate(fractions):
                pts = [(r["test_rate_hz"], 100 * r[metric]) for r in records
                       if r.get("rounding") == rnd and r["fraction"] == f
                       and r.get("test_rate_hz") is not None and r.get(metric) is not None]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.scatter(xs, ys, s=18, marker=markers[i % len(markers)], alpha=0.75,
                               color="k" if rnd is None else COLORS[(k - 1) % len(COLORS)],
                               label=f"{rnd or 'float64'}, sleep {100 * f:g} %")
        ax.set_xscale("log")
        ax.set_xlabel("E rate on held-out images (Hz, log scale)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title(f"{name}: every run", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


def plot_weight_code_histograms(panels: list[dict], path, title: str = "") -> Path:
    """Histograms (share of synapses, %) of final |w| / w_max: one row per (row label, pathway)
    (e.g. "8-bit", XE),
    one column per column label (e.g. rounding mode). ``panels``: dicts with row, column,
    pathway, values (array) and codes (2**w_bits - 1: one bin per code; None: 50 bins, float)."""
    rows = list(dict.fromkeys((p["row"], p["pathway"]) for p in panels))
    cols = list(dict.fromkeys(p["column"] for p in panels if p["column"] != "float64")) or ["float64"]
    fig = _figure(3.0 * len(cols), 1.9 * len(rows) + 0.6)
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for i, (row, pw) in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            p = next((q for q in panels if q["row"] == row and q["pathway"] == pw
                      and q["column"] in (col, "float64")), None)
            if p is None:
                ax.set_axis_off()
                continue
            v = np.asarray(p["values"], dtype=np.float64)
            if p["codes"]:
                edges = (np.arange(p["codes"] + 2) - 0.5) / p["codes"]
            else:
                edges = np.linspace(0.0, 1.0, 51)
            color = "0.3" if p["column"] == "float64" else COLORS[j % len(COLORS)]
            ax.hist(np.clip(v, 0.0, 1.0), bins=edges, weights=np.full(v.size, 100.0 / max(v.size, 1)),
                    color=color, alpha=0.85)
            ax.set_title(f"{row}, {pw}" + ("" if p["column"] == "float64" else f", {col}"), fontsize=8)
            if i == len(rows) - 1:
                ax.set_xlabel("|w| / w_max")
            if j == 0:
                ax.set_ylabel("synapses (%)")
            ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_raster(run_dir, path) -> Path | None:
    """Raster of X, E, I spikes across the first wake-sleep-wake transition (None if not recorded)."""
    raster = Path(run_dir) / files.RASTER
    if not raster.exists():
        return None
    z = files.load_npz_dict(raster, "raster file")
    t0 = int(z["step0"])
    asleep = z["asleep"].astype(bool)
    fig = _figure(10, 5)
    ax = fig.subplots()
    offset = 0
    for pop, color in (("X", "0.6"), ("E", "tab:blue"), ("I", "tab:red")):
        s = z[pop].astype(bool)
        t, i = np.nonzero(s)
        ax.scatter(t + t0, i + offset, s=1.0, c=color, marker="|", label=pop, linewidths=0.5)
        offset += s.shape[1]
        ax.axhline(offset, color="k", lw=0.3)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], asleep.astype(int), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        ax.axvspan(t0 + a, t0 + b, color="tab:purple", alpha=0.12, lw=0)
    ax.set_xlabel("simulated step (ms); shaded: sleep (input gated off)")
    ax.set_ylabel("neuron (X, E, I)")
    ax.set_title("spikes across a wake-sleep-wake transition")
    ax.legend(loc="upper right", markerscale=8, fontsize=8)
    return _save(fig, path)


def plot_run(run_dir) -> list[Path]:
    """All per-run plots into RUN_DIR/plots/; returns the written files."""
    run_dir = Path(run_dir)
    r = files.read_result(run_dir)
    out = run_dir / "plots"
    if r.get("model") == "sg":
        return []
    written = [plot_health([(run_dir.name, r)], out / "health.png"),
               plot_weight_hist(run_dir, out / "weights_hist.png"),
               plot_receptive_fields(run_dir, out / "receptive_fields.png")]
    ras = plot_raster(run_dir, out / "raster.png")
    return written + ([ras] if ras is not None else [])


def plot_accuracy(rows: list[dict], path, title: str = "", baselines: list[dict] | None = None) -> Path:
    """Held-out accuracy vs sleep fraction per dataset (panels) and model (lines), 95 % CI bars;
    baselines (raw pixels, untrained network) as horizontal lines with their 95 % CI bands."""
    datasets = sorted({r["dataset"] for r in rows})
    fig = _figure(4.5 * len(datasets), 3.8)
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, ds in zip(axes, datasets, strict=True):
        series = []
        for model in sorted({r["model"] for r in rows if r["dataset"] == ds}):
            sel = sorted((r for r in rows if r["dataset"] == ds and r["model"] == model),
                         key=lambda r: r["fraction"])
            if model == "stdp":
                series += [(sel, "linear_accuracy", "STDP linear readout", "-o"),
                           (sel, "assignment_accuracy", "STDP label assignment", "--s")]
            else:
                series.append((sel, "accuracy", f"{model.upper()} network", "-^"))
        for k, (sel, metric, label, style) in enumerate(series):
            pts = [(100 * r["fraction"], r[metric]) for r in sel if r.get(metric, {}).get("mean") is not None]
            if not pts:
                continue
            x = np.array([p[0] for p in pts])
            y = np.array([100 * p[1]["mean"] for p in pts])
            err = np.array([100 * (p[1].get("ci95") or 0.0) for p in pts])
            ax.errorbar(x, y, yerr=err, fmt=style, capsize=3, color=COLORS[k % len(COLORS)], label=label)
        _baseline_lines(ax, [b for b in baselines or [] if b["dataset"] == ds])
        _accuracy_axes(ax, f"{ds}{': ' + title if title else ''}", None, 8)
    fig.tight_layout()
    return _save(fig, path)


def _baseline_lines(ax, baselines: list[dict], metrics=None) -> None:
    """Horizontal lines (95 % CI band) for baseline rows (lava_sleep.summary.baseline_rows);
    ``metrics``: only the baselines of these metrics (default all)."""
    styles = {("pixels", "linear_accuracy"): ("0.2", ":", "raw pixels, logistic"),
              ("untrained", "linear_accuracy"): ("tab:gray", "-.", "untrained network, linear"),
              ("untrained", "assignment_accuracy"): ("tab:gray", ":", "untrained network, assignment")}
    for b in baselines:
        for (kind, metric), (color, ls, label) in styles.items():
            if metrics is not None and metric not in metrics:
                continue
            st = b.get(metric) if b.get("baseline") == kind else None
            if not st or st.get("mean") is None:
                continue
            ax.axhline(100 * st["mean"], color=color, ls=ls, lw=1.2, label=label)
            if st.get("ci95"):
                ax.axhspan(100 * st["lo"], 100 * st["hi"], color=color, alpha=0.08, lw=0)


def _cell_series(rows, ds, metric):
    sel = sorted((r for r in rows if r["dataset"] == ds and r.get(metric, {}).get("mean") is not None),
                 key=lambda r: r["fraction"])
    x = np.array([100 * r["fraction"] for r in sel])
    y = np.array([r[metric]["mean"] for r in sel])
    err = np.array([r[metric].get("ci95") or 0.0 for r in sel])
    return x, y, err


def plot_generalization(rows: list[dict], path, baselines: list[dict] | None = None) -> Path | None:
    """Training-image vs held-out accuracy (top) and their gap (bottom) vs sleep fraction, per
    dataset, for both STDP readouts; 95 % CI bars. None when no row has training accuracies."""
    rows = [r for r in rows if r["model"] == "stdp" and r.get("train_linear_accuracy")]
    if not rows:
        return None
    datasets = sorted({r["dataset"] for r in rows})
    fig = _figure(4.5 * len(datasets), 6.5)
    axes = fig.subplots(2, len(datasets), squeeze=False)
    for j, ds in enumerate(datasets):
        for k, (ro, name) in enumerate((("linear", "linear readout"), ("assignment", "label assignment"))):
            c = COLORS[k]
            for metric, style, what in ((f"train_{ro}_accuracy", "--o", "training images"),
                                        (f"{ro}_accuracy", "-o", "held-out")):
                x, y, e = _cell_series(rows, ds, metric)
                axes[0, j].errorbar(x, 100 * y, yerr=100 * e, fmt=style, capsize=3, color=c,
                                    label=f"{name}, {what}")
            x, y, e = _cell_series(rows, ds, f"{ro}_gap")
            axes[1, j].errorbar(x, 100 * y, yerr=100 * e, fmt="-o", capsize=3, color=c, label=name)
        for b in baselines or []:
            if b["dataset"] == ds and b.get("baseline") == "pixels":
                tr, te = b.get("train_linear_accuracy"), b.get("linear_accuracy")
                if tr and te and tr.get("mean") is not None and te.get("mean") is not None:
                    axes[1, j].axhline(100 * (tr["mean"] - te["mean"]), color="0.2", ls=":",
                                       label="raw pixels, logistic")
        axes[0, j].set_title(f"{ds}: accuracy on training vs held-out images")
        axes[0, j].set_ylabel("accuracy (%)")
        axes[1, j].set_title("generalization gap (training - held-out)")
        axes[1, j].set_ylabel("gap (percentage points)")
        axes[1, j].set_xlabel("sleep fraction (%)")
        for ax in axes[:, j]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_energy(rows: list[dict], path) -> Path | None:
    """Estimated energy per training image (Loihi 1, Davies et al. 2018), wake and sleep
    stacked, per sleep fraction and dataset. None when no row has an energy estimate."""
    rows = [r for r in rows if r["model"] == "stdp" and r.get("energy_uj_per_image")]
    if not rows:
        return None
    datasets = sorted({r["dataset"] for r in rows})
    fig = _figure(4.5 * len(datasets), 3.8)
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, ds in zip(axes, datasets, strict=True):
        sel = sorted((r for r in rows if r["dataset"] == ds), key=lambda r: r["fraction"])
        labels = [f"{100 * r['fraction']:g} %" for r in sel]
        wake = np.array([r["energy_wake_uj_per_image"]["mean"] for r in sel])
        sleep = np.array([r["energy_sleep_uj_per_image"]["mean"] for r in sel])
        x = np.arange(len(sel))
        ax.bar(x, wake, color="tab:blue", label="wake (input on)")
        ax.bar(x, sleep, bottom=wake, color="tab:purple", label="sleep (no input)")
        ax.set_xticks(x, labels)
        ax.set_xlabel("sleep fraction")
        ax.set_ylabel("µJ per training image (estimate)")
        ax.set_title(f"{ds}: Loihi 1 energy estimate")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.text(0.01, -0.02, "Estimate from Davies et al. 2018 per-operation energies; not a measurement.",
             fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_final_hist(runs: list[tuple[str, Path, dict]], path) -> Path:
    """Final |w| histograms of several runs overlaid (e.g. without vs with sleep)."""
    names = _plastic(runs[0][2])
    fig = _figure(4.2 * len(names), 3.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for k, (label, rdir, r) in enumerate(runs):
        arrays, _ = files.read_model(rdir)
        for ax, n in zip(axes, names, strict=True):
            w_max = r["config"]["network"]["pathways"][n]["w_max"]
            m = arrays[f"mask_{n}"].astype(bool)
            ax.hist(np.abs(arrays[f"w_{n}"][m]), bins=np.linspace(0, w_max, 41), histtype="step", lw=1.5,
                    color=COLORS[k % len(COLORS)], label=label)
    for ax, n in zip(axes, names, strict=True):
        ax.set_title(f"{n}: final |w|")
        ax.set_yscale("log")
        ax.set_xlabel("|w|")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _lines_from_results(results: list[dict]) -> list[dict]:
    from lava_sleep.summary import result_metrics

    return [{"dataset": r["dataset"]["name"], "model": r["model"], "fraction": r["sleep_fraction"],
             "seed": r["seed"], **result_metrics(r)} for r in results]


def plot_comparison(run_dirs: list[Path], out_dir) -> list[Path]:
    """Plots comparing finished runs (the demo): accuracy vs fraction, health, final weights."""
    out_dir = Path(out_dir)
    runs = [(Path(d).name, Path(d), files.read_result(d)) for d in run_dirs]
    stdp = [x for x in runs if x[2].get("model") == "stdp"]
    from lava_sleep.summary import baseline_rows, summarize

    lines = _lines_from_results([r for _, _, r in runs])
    rows, base = summarize(lines), baseline_rows(lines)
    written = [plot_accuracy(rows, out_dir / "accuracy_vs_sleep.png", baselines=base)]
    written += [p for p in (plot_generalization(rows, out_dir / "generalization.png", base),
                            plot_energy(rows, out_dir / "energy.png")) if p is not None]
    if stdp:
        written.append(plot_health([(lab, r) for lab, _, r in stdp], out_dir / "health.png"))
        written.append(plot_final_hist(stdp, out_dir / "weights_final_hist.png"))
    return written


def plot_sweep(sweep_dir) -> list[Path]:
    """Accuracy vs sleep fraction of a sweep (from summary.json, written if missing)."""
    from lava_sleep.summary import SUMMARY_JSON, write_summary

    sweep_dir = Path(sweep_dir)
    path = sweep_dir / SUMMARY_JSON
    summary = files.read_json(path, "summary") if path.exists() else write_summary(sweep_dir)
    rows = summary.get("cells", [])
    if not rows:
        raise RunError(f"{sweep_dir}: the sweep has no finished runs yet")
    base = summary.get("baselines", [])
    out = sweep_dir / "plots"
    written = [plot_accuracy(rows, out / "accuracy_vs_sleep.png", baselines=base)]
    return written + [p for p in (plot_generalization(rows, out / "generalization.png", base),
                                  plot_energy(rows, out / "energy.png")) if p is not None]


def plot_path(path) -> list[Path]:
    """Plots for a run folder, a sweep folder, a study folder (lava-sleep normalization-study,
    onchip-study, quant or continual) or a folder of runs (lava-sleep plot)."""
    from lava_sleep.summary import RUNS

    path = Path(path)
    if not path.exists():
        raise RunError(f"{path} does not exist")
    if not path.is_dir():
        raise RunError(f"{path} is not a folder")
    if (path / files.RESULT).exists():
        return plot_run(path)
    from lava_sleep import onchip_study
    from lava_sleep.normalization_study import STUDY_JSON, plot_study

    if (path / STUDY_JSON).exists():  # both studies write study.json: its format says which
        if files.read_json(path / STUDY_JSON).get("format") == onchip_study.STUDY_FORMAT:
            return onchip_study.plot_study(path)
        return plot_study(path)
    from lava_sleep.quant_study import QUANT_JSON, plot_quant

    if (path / QUANT_JSON).exists():  # before runs.jsonl: a quantization study has one too
        return plot_quant(path)
    from lava_sleep.continual import CONFIG_JSON as CONTINUAL_JSON
    from lava_sleep.continual import SUMMARY_JSON as CONTINUAL_SUMMARY
    from lava_sleep.continual import plot_continual

    if (path / CONTINUAL_JSON).exists():  # a continual study has a runs.jsonl too
        if not (path / CONTINUAL_SUMMARY).exists():
            raise RunError(f"{path}: continual study without {CONTINUAL_SUMMARY} (not finished); "
                           "run it again")
        return plot_continual(path)
    if (path / RUNS).exists():
        from lava_sleep.summary import write_summary

        write_summary(path)
        return plot_sweep(path)
    runs = sorted(d for d in path.iterdir() if d.is_dir() and (d / files.RESULT).exists())
    if runs:
        written = plot_comparison(runs, path / "plots")
        for d in runs:
            written += plot_run(d)
        return written
    raise RunError(f"{path} holds no run (result.json), sweep (runs.jsonl) or run folders")
