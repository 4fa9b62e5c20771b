"""``lava-sleep continual`` end to end on a tiny network: the protocol redone by hand on the
NumPy oracle, ACC/BWT/forgetting and the statistics recomputed independently (scipy), the
sleep bookkeeping of every condition, files, plots, resuming and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import TINY_TOML, holm_reference
from cli_helpers import run_main as _main
from scipy import stats

from lava_sleep import cli
from lava_sleep.continual import after_length, parse_tasks, transfer_metrics
from lava_sleep.experiment.config import RunError, build_params
from lava_sleep.experiment.data import DataCache
from lava_sleep.reference import ReferenceSimulator

SEEDS = (0, 1, 2)
TASKS = [(0, 1), (2, 3), (4, 5)]
N_TRAIN, N_TEST, N_LABEL = 90, 60, 10
FRACTION = 0.2
CONDS = ("none", "within", "after", "both", "joint")
PNG = b"\x89PNG\r\n\x1a\n"


def _argv(out, toml, *extra):
    return ["continual", "--dataset", "digits", "--n-train", N_TRAIN, "--n-test", N_TEST, "--preset", "quick",
            "--config", toml, "--seeds", ",".join(map(str, SEEDS)), "--tasks", "0,1/2,3/4,5",
            "--n-label", N_LABEL, "--fraction", FRACTION, "--sg-epochs", "1", "--backend", "torch",
            "--no-progress", *extra, "--out", out]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("continual")
    toml = root / "small.toml"
    toml.write_text(TINY_TOML)
    out = root / "study"
    assert cli.main([str(a) for a in _argv(out, toml)]) == 0
    return out, toml


def _seed_result(out, seed):
    return json.loads((out / "stdp" / f"seed-{seed}" / "result.json").read_text())


def _summary(out):
    return json.loads((out / "summary.json").read_text())


# ---- pieces with hand-derived values --------------------------------------------------------
def test_transfer_metrics_by_hand():
    R = [[0.9, None, None],
         [0.5, 0.8, None],
         [0.2, 0.6, 0.7]]
    m = transfer_metrics(np.array([[np.nan if v is None else v for v in r] for r in R]))
    assert m["acc"] == pytest.approx((0.2 + 0.6 + 0.7) / 3)
    assert m["bwt"] == pytest.approx(((0.2 - 0.9) + (0.6 - 0.8)) / 2)  # -0.45
    # task 0: best 0.9 before the end, ends 0.2; task 1: best 0.8, ends 0.6
    assert m["forgetting"] == pytest.approx((0.7 + 0.2) / 2)


def test_forgetting_uses_the_best_earlier_accuracy():
    R = np.array([[0.4, np.nan], [0.1, 0.9]])
    assert transfer_metrics(R) == pytest.approx({"acc": 0.5, "bwt": -0.3, "forgetting": 0.3})
    R3 = np.array([[0.3, np.nan, np.nan], [0.8, 0.5, np.nan], [0.6, 0.5, 0.9]])
    assert transfer_metrics(R3)["forgetting"] == pytest.approx(((0.8 - 0.6) + 0.0) / 2)
    assert transfer_metrics(R3)["bwt"] == pytest.approx(((0.6 - 0.3) + 0.0) / 2)  # positive: transfer


def test_after_length_matches_the_schedule_share():
    # 10 % of all steps asleep: 1/9 of the wake steps; 20 %: 1/4
    assert after_length(0.1, 9000) == 1000
    assert after_length(0.2, 1000) == 250


@pytest.mark.parametrize("text, msg", [
    ("0,1", "at least 2 tasks"), ("0,1/1,2", "more than one task"), ("0,1/2,10", "not in [0, 10)"),
    ("0,1/a", "not a comma-separated"), ("0,1//2", "empty task")])
def test_parse_tasks_refuses(text, msg):
    with pytest.raises(RunError, match=msg.replace("[", r"\[").replace(")", r"\)")):
        parse_tasks(text, 10)


# ---- the protocol redone by hand on the oracle -----------------------------------------------
def _labels_by_hand(table, seen):
    """Per neuron: the seen class of highest stored rate (lowest index on ties), -1 if it never fired."""
    out = []
    for n in range(table.shape[1]):
        best, cls = 0.0, -1
        for c in sorted(seen):
            if table[c, n] > best:
                best, cls = table[c, n], c
        out.append(cls)
    return np.array(out)


def _predict_by_hand(counts, labels, n_classes):
    pred = []
    for row in counts:
        scores = [row[labels == c].mean() if np.any(labels == c) else 0.0 for c in range(n_classes)]
        pred.append(int(np.argmax(scores)) if max(scores) > 0 else -1)
    return np.array(pred)


def _protocol_by_hand(params, seed, data, cond, after_steps):
    frac = FRACTION if cond in ("within", "both") else 0.0
    sim = ReferenceSimulator(params.with_sleep_fraction(frac), seed)
    n_classes, n_e = data.n_classes, params.network.n_exc
    table = np.zeros((n_classes, n_e))
    R = np.full((len(TASKS), len(TASKS)), np.nan)
    train = [np.flatnonzero(np.isin(data.train_y, t)) for t in TASKS]
    test = [np.flatnonzero(np.isin(data.test_y, t)) for t in TASKS]
    for i, t in enumerate(TASKS):
        sim.run(data.train_x[train[i]], learn=True, sleep_on=True)
        if cond in ("after", "both"):
            sim.sleep(after_steps)
        saved = sim.state_dict()
        lab = train[i][:N_LABEL]
        seen_test = np.concatenate(test[: i + 1])
        shown = np.concatenate([data.train_x[lab], data.test_x[seen_test]])
        out = sim.run(shown, learn=False, sleep_on=False)
        sim.load_state_dict(saved)
        cl, ct = out.counts[: len(lab)], out.counts[len(lab):]
        for c in t:
            table[c] = cl[data.train_y[lab] == c].mean(0)
        seen = [c for tt in TASKS[: i + 1] for c in tt]
        pred = _predict_by_hand(ct, _labels_by_hand(table, seen), n_classes)
        k = 0
        for j in range(i + 1):
            n = len(test[j])
            R[i, j] = np.mean(pred[k:k + n] == data.test_y[test[j]])
            k += n
    return R


@pytest.mark.parametrize("cond", ["none", "both"])
def test_accuracy_matrix_equals_the_protocol_done_by_hand(study, cond):
    out, toml = study
    seed = SEEDS[1]
    res = _seed_result(out, seed)
    params = build_params("quick", toml)
    data = DataCache().run_data("digits", params.input.image_size, seed, N_TRAIN, N_TEST)
    R_hand = _protocol_by_hand(params, seed, data, cond, res["after_steps"])
    R = np.array([[np.nan if v is None else v for v in row] for row in res["conditions"][cond]["R"]])
    np.testing.assert_allclose(R, R_hand, rtol=0, atol=1e-12)
    assert np.isnan(R[np.triu_indices(len(TASKS), 1)]).all()


def test_sleep_bookkeeping_per_condition(study):
    out, toml = study
    params = build_params("quick", toml)
    slot = params.input.slot_steps
    for seed in SEEDS:
        res = _seed_result(out, seed)
        data = DataCache().run_data("digits", params.input.image_size, seed, N_TRAIN, N_TEST)
        sizes = [int(np.isin(data.train_y, t).sum()) for t in TASKS]
        L = res["after_steps"]
        assert L == round(FRACTION / (1 - FRACTION) * np.mean(sizes) * slot)
        c = res["conditions"]
        for cond in CONDS:
            assert c[cond]["wake_steps"] == sum(sizes) * slot  # every condition sees every image once
        assert c["none"]["sleep_steps"] == 0 and c["joint"]["sleep_steps"] == 0
        # tol of the tiny config > 0: an episode may wake early, never run longer than planned
        assert 0 < c["after"]["sleep_steps"] <= len(TASKS) * L
        assert c["within"]["sleep_steps"] > 0
        # the schedule counts wake steps only: within and both have the same scheduled episodes
        assert c["after"]["episodes"] == len(TASKS)
        assert c["both"]["episodes"] == c["within"]["episodes"] + len(TASKS)


def test_summary_statistics_recomputed_independently(study):
    out, _ = study
    s = _summary(out)
    lines = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * len(CONDS) * len(SEEDS)
    for model in ("stdp", "sg"):
        per = {}
        for cond in CONDS:
            rows = {x["seed"]: x for x in lines if x["model"] == model and x["condition"] == cond}
            assert sorted(rows) == list(SEEDS)
            for x in rows.values():
                if cond == "joint":
                    assert x["bwt"] is None and x["acc"] == pytest.approx(np.mean(x["acc_final_row"]))
                    continue
                R = np.array([[np.nan if v is None else v for v in r] for r in x["R"]])
                last = R[-1]
                assert x["acc"] == pytest.approx(last.mean())
                assert x["bwt"] == pytest.approx(np.mean([last[j] - R[j, j] for j in range(2)]))
            per[cond] = rows
            key = cond if model == "stdp" else f"sg:{cond}"
            e = s["conditions"][key]
            assert s[model][cond]["acc"] == e["acc"]
            accs = [per[cond][k]["acc"] for k in SEEDS]
            assert e["acc"] == pytest.approx(np.mean(accs))
            half = stats.t.ppf(0.975, len(SEEDS) - 1) * np.std(accs, ddof=1) / np.sqrt(len(SEEDS))
            assert e["acc_stats"]["ci95"] == pytest.approx(half, abs=1e-12)
        for metric in ("acc", "bwt"):
            conds = ["within", "after", "both"]
            ps, diffs = [], []
            for cond in conds:
                a = [per[cond][k][metric] for k in SEEDS]
                b = [per["none"][k][metric] for k in SEEDS]
                d = np.subtract(a, b)
                diffs.append(d.mean())
                ps.append(stats.ttest_rel(a, b).pvalue if np.ptp(d) > 1e-12 else None)
            tested = [p for p in ps if p is not None]
            holm = iter(holm_reference(tested))
            for cond, p, dm in zip(conds, ps, diffs, strict=True):
                t = s[model][cond][f"{metric}_vs_none"]
                assert t["diff_mean"] == pytest.approx(dm, abs=1e-12)
                if p is None:
                    assert t["p"] is None
                else:
                    assert t["p"] == pytest.approx(p) and t["p_holm"] == pytest.approx(next(holm))


def test_files_and_plots(study):
    out, _ = study
    md = (out / "summary.md").read_text()
    assert "STDP network" in md and "SG network" in md and "Mean R[i][j]" in md
    for name in ("accuracy_matrices", "task_accuracy", "fields"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:8] == PNG
    fields = np.load(out / "stdp" / f"seed-{SEEDS[0]}" / "fields.npz")
    assert fields["none"].shape[0] == len(TASKS)
    assert not (out / "stdp" / f"seed-{SEEDS[0]}" / "checkpoint.npz").exists()


def test_resume_trains_nothing(study, capsys):
    out, toml = study
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.json") if p.name != "summary.json"
              and p.name != "continual.json"}
    rc, stdout, _ = _main(capsys, _argv(out, toml, "--no-plots"))
    assert rc == 0 and "STDP network" in stdout
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.mark.parametrize("extra, msg", [
    (["--conditions", "none,nap"], "unknown condition 'nap'"),
    (["--tasks", "0,1/1,2"], "more than one task"),
    (["--fraction", "0"], "--fraction must be in (0, 0.95]"),
    (["--n-label", "0"], "--n-label must be an integer >= 1"),
    (["--backend", "lava-fixed"], "numpy or torch"),
])
def test_bad_input_is_one_line(tmp_path, capsys, extra, msg):
    toml = tmp_path / "t.toml"
    toml.write_text(TINY_TOML)
    rc, _, err = _main(capsys, _argv(tmp_path / "o", toml, *extra))
    assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "continual.json").exists()


def test_another_study_in_the_same_folder_is_refused(study, capsys):
    out, toml = study
    rc, _, err = _main(capsys, _argv(out, toml, "--n-label", "5"))
    assert rc == 2 and "holds another continual study" in err
