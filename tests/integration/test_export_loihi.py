"""``lava-sleep export --format loihi``: the Loihi 2 deployment file read back by an independent
consumer (the JSON and the formulas of lava_sleep.fixed's docs, not the exporter's code), and the
representability checks, each one line, exit 2, nothing written (docs/export.md).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from lava_sleep import cli
from lava_sleep import params as P
from lava_sleep.experiment import files

#: A tiny network on top of the quick preset (36 inputs, 20 E, 6 I, 40 steps per image) whose
#: sleep is already the on-chip form (block 32, lam 0.999: c = 1 - 0.999**32 = 0.0315 -> 2**-5), so
#: a 20-image run sleeps twice and sees decay pulses.
TINY_TOML = """
[input]
image_size = 6
steps_per_image = 40

[network]
n_exc = 20
n_inh = 6

[sleep]
site = "onchip"
form = "linear"
target = "static"
decay_noise = 0.0
tol = 0.0
block = 32
lam = 0.999
period = 200
"""


def _one_line(text: str) -> str:
    lines = text.strip("\n").split("\n")
    assert len(lines) == 1, text
    return lines[0]


def _train(tmp, name, *extra):
    cfg = tmp / "tiny.toml"
    cfg.write_text(TINY_TOML)
    out = tmp / name
    argv = ["train", "--dataset", "digits", "--preset", "quick", "--config", str(cfg), "--n-train", "20",
            "--n-test", "10", "--sleep-fraction", "0.3", "--sleep-site", "onchip", "--seed", "0",
            "--backend", "numpy", "--no-progress", "--out", str(out), *extra]
    assert cli.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def float_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("loihi"), "float")


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("loihi"), "fixed", "--mode", "fixed")


def _export(run_dir, out):
    return cli.main(["export", str(run_dir), "--format", "loihi", str(out)])


def _mask_from_csr(m, shape):
    mask = np.zeros(shape, dtype=bool)
    ip, ix = m["indptr"], m["indices"]
    assert m["encoding"] == "csr" and len(ip) == shape[0] + 1
    for i in range(shape[0]):
        row = ix[ip[i]:ip[i + 1]]
        assert row == sorted(row)
        mask[i, row] = True
    return mask


def _gain(p: dict) -> float:
    n = p["neuron"]
    return n["r_m"] * n["dt"] ** 2 / (n["tau_m"] * n["tau_syn"])


def _nearest_literal(x: float):
    """Independently: mantissa 1..7 and exponent -7..8 whose m * 2**e is nearest to x."""
    lits = [(m, e) for m in range(1, 8) for e in range(-7, 9)]
    return min(lits, key=lambda me: abs(me[0] * 2.0 ** me[1] - x))


def _dequantized(pw: dict, vfb: int, gain: float) -> np.ndarray:
    """Weights in lava-sleep units from the file alone: a spike through mantissa m adds
    m * 2**(weight_exp + 6) voltage units (Lava's Sparse << weight_exp, the LIF's << 6), 1 mV =
    2**v_frac_bits units, one weight unit gives gain mV per spike."""
    m = np.asarray(pw["weights"], dtype=np.float64)
    return m * 2.0 ** (pw["weight_exp"] + 6) / 2.0**vfb / gain


def _check_file(doc, run_dir):
    arrays, config = files.read_model(run_dir)
    p = doc["params"]
    assert P.ModelParams.from_dict(p) == P.ModelParams.from_dict(config["params"])
    vfb, gain = doc["fixed_point"]["v_frac_bits"], _gain(p)
    assert gain == pytest.approx(30 * 1.0 / (30 * 30))
    errs = {}
    for n in ("XE", "EE", "EI", "IE"):
        pw = doc["pathways"][n]
        shape = tuple(pw["shape"])
        mask = arrays[f"mask_{n}"].astype(bool)
        assert shape == mask.shape and pw["n_synapses"] == int(mask.sum())
        np.testing.assert_array_equal(_mask_from_csr(pw["mask"], shape), mask)
        mant = np.asarray(pw["weights"])
        assert mant.dtype.kind == "i" and np.abs(mant).max() <= 255
        assert np.all(mant[~mask] == 0) and np.all(mant * pw["sign"] >= 0)
        assert pw["sign"] == (-1 if n == "IE" else 1) and -8 <= pw["weight_exp"] <= 7
        w = _dequantized(pw, vfb, gain)
        lsb = 2.0 ** (pw["weight_exp"] + 6) / 2.0**vfb / gain
        assert lsb == pytest.approx(pw["quantization"]["lsb"], rel=1e-12)
        err = float(np.abs(w - arrays[f"w_{n}"])[mask].max())
        stated = pw["quantization"]["max_abs_error"]
        assert err <= stated + 1e-12 and stated == pytest.approx(err, abs=1e-12)
        assert stated <= lsb  # at most one LSB (half an LSB but where w_max clips to m_max)
        errs[n] = err
        assert pw["plastic"] == (n in ("XE", "EE")) and (pw["learning"] is None) == (n not in ("XE", "EE"))
    # neurons: hand-derived Lava fixed LIF constants (lava_sleep.fixed docs: keep factors)
    nrn = p["neuron"]
    du = 4096 - round(4096 * (1 - nrn["dt"] / nrn["tau_syn"])) - 1
    dv = 4096 - round(4096 * (1 - nrn["dt"] / nrn["tau_m"]))
    vth = round((nrn["v_thresh"] - nrn["v_rest"]) * 2**vfb) >> 6
    for pop, sl in (("E", slice(0, 20)), ("I", slice(20, 26))):
        c = doc["populations"][pop]
        assert (c["du"], c["dv"], c["vth"], c["bias_mant"], c["bias_exp"]) == (du, dv, vth, 0, 0)
        assert (du, dv, vth) == (136, 137, 15360)
        a_units = np.rint(arrays["state_a"][sl] * (1 if doc["mode"] == "fixed" else 2.0**vfb))
        np.testing.assert_array_equal(c["vth_frozen"], (round(15 * 2**vfb) + a_units.astype(np.int64)) >> 6)
        sd = c["noise"]
        assert sd["sd_a_in_wake"] > 0 and sd["sd_a_in_sleep"] == pytest.approx(2 * sd["sd_a_in_wake"])
    return errs


def _check_learning(doc):
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule

    p = doc["params"]
    for n in ("XE", "EE"):
        L = doc["pathways"][n]["learning"]
        rule = Loihi3FLearningRule(dw=L["dw"], x1_impulse=L["x1_impulse"], x1_tau=L["x1_tau"],
                                   t_epoch=L["t_epoch"])
        assert rule.dw_str == L["dw"] and rule.active_traces == {"x1", "y1", "y2"}
        prods = rule.dw.products
        assert len(prods) == 4  # potentiation, depression, + D y2 t, - D y2 w
        for pr in prods:
            assert -8 <= pr.s_mantissa <= 7
        lits = [(int(m), int(e)) for m, e in re.findall(r"(\d) \* 2\^(-?\d+)", L["dw"])]
        assert all(1 <= m <= 7 and -7 <= e <= 8 for m, e in lits)
        assert L["t_epoch"] == 1 and L["x1_tau"] == 20 and 0 < L["x1_impulse"] <= 127
        assert 0 < L["y1_impulse"] <= 127 and L["y1_keep"] == round(4096 * np.exp(-1 / 20))
        # the tag is the static target: the initial magnitude w_init in LSB (no jitter in quick)
        lsb = doc["pathways"][n]["quantization"]["lsb"]
        w_init = p["network"]["pathways"][n]["w_init"]
        assert abs(L["tag"] - w_init / lsb) <= 1
    sl = doc["sleep"]
    assert sl["site"] == "onchip" and sl["block"] == 32 and sl["fraction"] == 0.3 and sl["period"] == 200
    assert (sl["c_mantissa"], sl["c_exponent"]) == _nearest_literal(1 - 0.999**32) == (1, -5)
    assert 1 <= sl["y2_level"] <= 127
    d_m, d_e = sl["rule_decay_scaling"]
    assert d_m * 2.0**d_e * sl["y2_level"] * 2.0**-5 == pytest.approx(sl["c"], rel=0.01)
    assert sl["first_episodes"][:2] == [86, 85]  # round(k * 200 * 0.3 / 0.7) differences


@pytest.mark.lava
def test_float_run_exports_quantized_weights_rules_and_constants(float_run, tmp_path, capsys):
    out = tmp_path / "model.json"
    assert _export(float_run, out) == 0
    line = _one_line(capsys.readouterr().out)
    assert line.startswith(f"wrote {out} (loihi, ") and ", float run; pathways XE " in line
    assert re.search(r"estimated 2 Loihi 2 cores\)$", line) and "EE " in line and "IE " in line
    assert sorted(q.name for q in tmp_path.iterdir()) == ["model.json"]  # no temp file left
    doc = json.loads(out.read_text())
    assert doc["format"] == "lava-sleep-loihi/1" and doc["mode"] == "float" and doc["model"] == "stdp"
    assert doc["source_run"] == str(float_run) and doc["producer"].startswith("lava-sleep ")
    errs = _check_file(doc, float_run)
    assert max(errs.values()) > 0  # float weights really were quantized
    _check_learning(doc)
    res = doc["resources"]
    assert "not measured on hardware" in res["assumptions"]["source"]
    assert res["cores"] == sum(v["cores"] for v in res["populations"].values()) == 2
    assert any("adaptation" in note for note in doc["notes"])


@pytest.mark.lava
def test_fixed_run_exports_its_integer_weights_exactly(fixed_run, tmp_path):
    out = tmp_path / "fixed.json"
    assert _export(fixed_run, out) == 0
    doc = json.loads(out.read_text())
    assert doc["mode"] == "fixed"
    errs = _check_file(doc, fixed_run)
    assert max(errs.values()) == 0.0
    arrays, _ = files.read_model(fixed_run)
    for n in ("XE", "EE", "EI", "IE"):
        pw = doc["pathways"][n]
        np.testing.assert_array_equal(pw["weights"], pw["sign"] * arrays[f"state_m_{n}"])
    _check_learning(doc)


def _variant(run_dir, tmp, name, change, change_arrays=None):
    """A copy of ``run_dir``'s model file whose parameters ``change(dict)`` edited (and whose
    arrays ``change_arrays(dict)`` edited)."""
    arrays, config = files.read_model(run_dir)
    change(config["params"])
    if change_arrays is not None:
        change_arrays(arrays)
    keep = {k: v for k, v in arrays.items() if k not in ("format", "config_json", "config_toml")}
    d = tmp / name
    d.mkdir()
    files.write_model(d, keep, config)
    return d


@pytest.mark.lava
def test_host_sleep_is_written_as_its_onchip_conversion_with_a_note(float_run, tmp_path):
    def to_host(p):
        p["sleep"].update(site="host", form="log", target="neuron", decay_noise=0.1, tol=0.01, block=10,
                          lam=0.99997)

    run = _variant(float_run, tmp_path, "host", to_host)
    out = tmp_path / "host.json"
    assert _export(run, out) == 0
    doc = json.loads(out.read_text())
    sl = doc["sleep"]
    assert sl["site"] == "onchip" and sl["block"] == 256 and (sl["c_mantissa"], sl["c_exponent"]) == (1, -7)
    assert any("host form" in note and "onchip()" in note for note in doc["notes"])
    assert doc["params"]["sleep"]["site"] == "host"  # the run's own parameters


def _err(capsys, argv):
    rc = cli.main(argv)
    cap = capsys.readouterr()
    assert rc == 2, cap
    assert "Traceback" not in cap.err and not cap.out
    return _one_line(cap.err)


def _pathway(name, **kv):
    return lambda p: p["network"]["pathways"][name].update(**kv)


def _stdp(**kv):
    return lambda p: p["stdp"].update(**kv)


def _neuron(**kv):
    return lambda p: p["neuron"].update(**kv)


@pytest.mark.lava
@pytest.mark.parametrize(("case", "change", "words"), [
    ("normalize", _pathway("XE", normalize=True), ("normalization", "XE")),
    ("t_epoch", _stdp(t_epoch=64), ("t_epoch = 64", "63")),
    ("impulse", _stdp(trace_bits=8, trace_impulse=200), ("trace impulse", "127")),
    ("tau", _stdp(tau_plus=300.0), ("x1_tau = 300", "8-bit")),
    ("rule", _pathway("XE", rule="vogels"), ("rule 'stdp'", "XE")),
    ("weight_exp", _neuron(r_m=1e4, tau_m=1.0, tau_syn=1.0), ("weight_exp = 16", "[-8, 7]")),
    ("scaling", _neuron(r_m=0.5, tau_m=1e4, tau_syn=100.0), ("Loihi learning-rule constant",)),
    ("du", _neuron(tau_syn=1e4), ("du", "= -1", "4095")),
])
def test_unrepresentable_runs_are_one_line_and_write_nothing(float_run, tmp_path, capsys, case, change,
                                                             words):
    run = _variant(float_run, tmp_path, case, change)
    out = tmp_path / "o.json"
    out.write_text("old")
    line = _err(capsys, ["export", str(run), "--format", "loihi", str(out)])
    assert line.startswith("lava-sleep export: error:") and "not deployable on Loihi 2" in line, line
    assert all(w in line for w in words), line
    assert out.read_text() == "old" and sorted(q.name for q in tmp_path.iterdir()) == sorted([case, "o.json"])


@pytest.mark.lava
def test_weight_mantissa_beyond_8_bits_is_one_line(fixed_run, tmp_path, capsys):
    def damage(arrays):
        m = arrays["state_m_XE"].copy()
        m[np.nonzero(arrays["mask_XE"])[0][0], np.nonzero(arrays["mask_XE"])[1][0]] = 300
        arrays["state_m_XE"] = m

    run = _variant(fixed_run, tmp_path, "m300", lambda p: None, damage)
    line = _err(capsys, ["export", str(run), "--format", "loihi", str(tmp_path / "o.json")])
    assert "pathway XE: weight mantissa 300 exceeds 8 bits" in line
    assert not (tmp_path / "o.json").exists()


def test_not_a_run_and_missing_out_folder_are_one_line(float_run, tmp_path, capsys):
    out = tmp_path / "o.json"
    out.write_text("old")
    line = _err(capsys, ["export", str(tmp_path / "nowhere"), "--format", "loihi", str(out)])
    assert "does not exist" in line
    (tmp_path / "empty").mkdir()
    line = _err(capsys, ["export", str(tmp_path / "empty"), "--format", "loihi", str(out)])
    assert "model.npz" in line
    assert out.read_text() == "old"
    line = _err(capsys, ["export", str(float_run), "--format", "loihi", str(tmp_path / "missing" / "o.json")])
    assert "does not exist" in line and "missing" in line
    assert not (tmp_path / "missing").exists()
    line = _err(capsys, ["export", str(float_run), "--format", "loihi", str(tmp_path)])  # OUT is a folder
    assert "is a folder" in line and "model.loihi.json" in line


def test_without_lava_the_export_is_one_line(float_run, tmp_path, capsys, monkeypatch):
    from lava_sleep import backends

    monkeypatch.setattr(backends, "lava_available", lambda: False)
    line = _err(capsys, ["export", str(float_run), "--format", "loihi", str(tmp_path / "o.json")])
    assert "needs Python 3.10 with lava-nc" in line and "--format nir" in line
    assert not (tmp_path / "o.json").exists()
