"""Batching, state, interface and device behaviour of the torch engine.

* batch consistency: member b of a batch (own seed, own sleep settings) equals the same
  configuration simulated alone, exactly, in fixed point and float64, for both
  implementations (the native one with two worker threads), with shared and per-member images,
  also with all Diehl & Cook features on (rest, patterns, diehl_cook, normalization, slow
  adaptation decay, adaptation frozen in an evaluation call), and in fixed point with every
  precision parameter away from its default (tests/conftest.py PRECISION_CASES);
* state_dict/load_state_dict continue a run exactly (also mid learning epoch);
* the BatchSimulator contract (make_simulator dispatch, validation errors, progress, outputs);
* CUDA (skipped without a CUDA device): bit-exact fixed point and spike-exact float64.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lava_sleep import rng
from lava_sleep.backends import BackendError, make_simulator
from lava_sleep.engine import TorchSimulator
from lava_sleep.kernels import native
from lava_sleep.reference import ReferenceSimulator

IMPLS = ("native", "torch")


def with_sleep(base, **changes):
    return dataclasses.replace(base, sleep=dataclasses.replace(base.sleep, **changes))


def _members(base, mode):
    """Three members that differ in seed and in many SleepParams fields (not only the fraction)."""
    form = "linear" if mode == "fixed" else "log"
    params = [
        with_sleep(base, fraction=0.0),
        with_sleep(base, fraction=0.2, period=100, form=form, target="group", block=5, tol=0.01, lam=0.999),
        with_sleep(base, fraction=0.4, period=70, form="linear", target="static", block=8, tol=0.0, lam=0.998,
                   w_floor=0.1, prune=True),
    ]
    return params, [3, 4, 9]


def _run_two_calls(sim, shared, per_member, member=None, learn2=True):
    """A call on shared images then one on per-member images (member b's slice when alone),
    the second with learning ``learn2``."""
    out1 = sim.run(shared, record_spikes=True)
    out2 = sim.run(per_member if member is None else per_member[member], learn=learn2, record_spikes=True)
    return out1, out2


def _assert_member_equal(batch_outs, b, alone_outs):
    for ob, oa in zip(batch_outs, alone_outs, strict=True):
        for pop in ("X", "E", "I", "asleep"):
            np.testing.assert_array_equal(ob.spikes[b][pop], oa.spikes[0][pop])
        np.testing.assert_array_equal(ob.counts[b], oa.counts[0])
        assert ob.episodes[b] == oa.episodes[0]
        assert ob.steps[b] == oa.steps[0] and ob.sleep_steps[b] == oa.sleep_steps[0]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "dtype"), [("fixed", "float64"), ("float", "float64")])
def test_batch_member_equals_member_alone(mode, dtype, impl, small_params, make_images, torch_single_thread):
    params, seeds = _members(small_params, mode)
    shared = make_images(6, small_params.n_input, seed=1)
    per_member = np.stack([make_images(4, small_params.n_input, seed=10 + b) for b in range(3)])
    batch = TorchSimulator(params, seeds, mode=mode, dtype=dtype, impl=impl, threads=2)
    outs = _run_two_calls(batch, shared, per_member)
    assert sum(len(e) for o in outs for e in o.episodes) >= 4  # members really sleep, differently
    assert len({int(s) for s in outs[0].steps}) == 3
    for b in range(3):
        alone = TorchSimulator([params[b]], [seeds[b]], mode=mode, dtype=dtype, impl=impl)
        _assert_member_equal(outs, b, _run_two_calls(alone, shared, per_member, member=b))
        sa, sb = alone.state_dict(0), batch.state_dict(b)
        for k in sa:
            np.testing.assert_array_equal(sb[k], sa[k], err_msg=k)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("mode", ["fixed", "float"])
def test_batch_member_equals_member_alone_all_features(mode, impl, features_params, make_images,
                                                       torch_single_thread):
    """The same with rest steps, connection patterns, diehl_cook, normalization and slow adaptation
    decay on (tests/conftest.py features_params); the shared call is longer than one native slice,
    and the per-member call evaluates (learning off: adaptation frozen)."""
    params, seeds = _members(features_params("linear"), mode)
    nx = params[0].n_input
    shared = make_images(10, nx, seed=1)
    per_member = np.stack([make_images(3, nx, seed=10 + b) for b in range(3)])
    batch = TorchSimulator(params, seeds, mode=mode, impl=impl, threads=2)
    outs = _run_two_calls(batch, shared, per_member, learn2=False)
    assert len({int(s) for s in outs[0].steps}) == 3
    for b in range(3):
        alone = TorchSimulator([params[b]], [seeds[b]], mode=mode, impl=impl)
        _assert_member_equal(outs, b, _run_two_calls(alone, shared, per_member, member=b, learn2=False))
        sa, sb = alone.state_dict(0), batch.state_dict(b)
        for k in sa:
            np.testing.assert_array_equal(sb[k], sa[k], err_msg=k)


#: (case, impl) pairs of the batched precision test: the native kernel for every PRECISION_CASES
#: case (tests/conftest.py), the pure torch path for one (its deterministic rounding offsets
#: broadcast over the batch, and the full weight scale; its stochastic per-member draws are the
#: default path's, covered by test_batch_member_equals_member_alone_all_features). Suite time: a
#: torch case costs 10-16 s per Python lane.
BATCH_PRECISION = [("full_w4_nearest_trace_floor_dw", "native"), ("pow2_w3_floor_trace_nearest_dw", "native"),
                   ("full_w2_stochastic", "native"), ("full_w4_nearest_trace_floor_dw", "torch")]


@pytest.mark.parametrize(("case", "impl"), BATCH_PRECISION)
def test_batch_member_equals_member_alone_precision(case, impl, features_params, with_precision,
                                                    make_images, torch_single_thread):
    """Fixed point with every width and rounding mode away from its default (PRECISION_CASES), all
    model features on: member b of a batch equals the member alone, spikes, episodes and state."""
    params, seeds = _members(with_precision(features_params("linear"), case), "fixed")
    nx = params[0].n_input
    shared = make_images(10, nx, seed=1)
    per_member = np.stack([make_images(3, nx, seed=10 + b) for b in range(3)])
    batch = TorchSimulator(params, seeds, mode="fixed", impl=impl, threads=2)
    fc, fx = batch.members[0].fc, params[0].fixed
    assert (fc.trace_rounding, fc.dw_rounding, fc.trace_max) == (
        fx.trace_rounding, fx.dw_rounding, 2**params[0].stdp.trace_bits - 1)
    mults = [pf.w_mult for pf in fc.pathways.values()]
    assert any(w & (w - 1) for w in mults) == (fx.w_scale == "full"), mults
    outs = _run_two_calls(batch, shared, per_member)
    assert sum(len(e) for o in outs for e in o.episodes) >= 4 and len({int(s) for s in outs[0].steps}) == 3
    for b in range(3):
        init = ReferenceSimulator(params[b], seeds[b], mode="fixed").m["XE"]
        assert not np.array_equal(batch.state_dict(b)["m_XE"], init)  # learning moved weights
        alone = TorchSimulator([params[b]], [seeds[b]], mode="fixed", impl=impl)
        _assert_member_equal(outs, b, _run_two_calls(alone, shared, per_member, member=b))
        sa, sb = alone.state_dict(0), batch.state_dict(b)
        for k in sa:
            np.testing.assert_array_equal(sb[k], sa[k], err_msg=k)


@pytest.mark.parametrize("impl", IMPLS)
def test_load_state_dict_continues_exactly_mid_epoch(impl, small_params, make_images, torch_single_thread):
    base = dataclasses.replace(small_params, stdp=dataclasses.replace(small_params.stdp, t_epoch=64))
    p = with_sleep(base, fraction=0.25, period=60, form="linear", target="neuron", block=4, tol=0.0,
                   lam=0.995)
    images = make_images(6, p.n_input, seed=5)
    ref = ReferenceSimulator(p, 21, mode="fixed")
    ref.run(images[:3])
    state = ref.state_dict()
    assert state["counters"][0] % 64 != 0 and any(state[f"acc_{n}"].any() for n in ref.plastic)
    sim = TorchSimulator([with_sleep(p, fraction=0.1), p], [8, 21], mode="fixed", impl=impl)
    sim.run(images[:1])  # member 0 moves on; member 1 is then overwritten with the oracle's state
    sim.load_state_dict(1, state)
    for k, v in sim.state_dict(1).items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)
    ro = ref.run(images[3:], record_spikes=True)
    out = sim.run(images[3:], record_spikes=True)
    np.testing.assert_array_equal(out.spikes[1]["E"], ro.spikes["E"])
    assert out.episodes[1] == ro.episodes
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(sim.state_dict(1)[k], v, err_msg=k)


def test_make_simulator_dispatches_to_the_engine(small_params, make_images, torch_single_thread):
    p = with_sleep(small_params, fraction=0.2, period=50, form="linear")
    images = make_images(2, p.n_input, seed=3)
    sim = make_simulator("torch", [p, p], [1, 2], mode="fixed")
    assert isinstance(sim, TorchSimulator) and sim.batch == 2
    ref = make_simulator("numpy", [p, p], [1, 2], mode="fixed")
    out, rout = sim.run(images), ref.run(images)
    np.testing.assert_array_equal(out.counts, rout.counts)
    assert out.spikes is None and out.counts.shape == (2, 2, p.network.n_exc)
    for b in range(2):
        for n, w in ref.weights(b).items():
            np.testing.assert_array_equal(sim.weights(b)[n], w)
            np.testing.assert_array_equal(sim.masks(b)[n], ref.masks(b)[n])


@pytest.mark.parametrize("impl", IMPLS)
def test_progress_counts_images_of_all_members(impl, small_params, make_images, torch_single_thread):
    sim = TorchSimulator([small_params] * 2, [1, 2], impl=impl)
    seen = []
    out = sim.run(make_images(3, small_params.n_input), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 6
    assert out.steps.tolist() == [150, 150] and out.sleep_steps.tolist() == [0, 0]


def test_invalid_configurations_raise_backend_error(small_params):
    other = dataclasses.replace(small_params, stdp=dataclasses.replace(small_params.stdp, t_epoch=2))
    with pytest.raises(BackendError, match="outside SleepParams"):
        TorchSimulator([small_params, other], [1, 2])
    with pytest.raises(BackendError, match="seed"):
        TorchSimulator([small_params], [-1])
    with pytest.raises(BackendError, match="equal length"):
        TorchSimulator([small_params], [1, 2])
    with pytest.raises(BackendError, match="mode"):
        TorchSimulator([small_params], [1], mode="half")
    with pytest.raises(BackendError, match="dtype"):
        TorchSimulator([small_params], [1], dtype="float16")
    low_max = dataclasses.replace(small_params, network=small_params.network.with_pathway("XE", w_max=0.5))
    with pytest.raises(BackendError, match="w_floor"):
        TorchSimulator([with_sleep(low_max, fraction=0.2, w_floor=0.6)], [1])
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA"):
            TorchSimulator([small_params], [1], device="cuda")
    sim = TorchSimulator([small_params], [1])
    with pytest.raises(ValueError, match="shape"):
        sim.run(np.zeros((2, 5), dtype=np.uint8))


def test_without_compiler_auto_falls_back_to_torch(small_params, monkeypatch):
    def fail(mode):
        raise native.NativeBuildError("no C compiler found")

    monkeypatch.setattr(native, "load", fail)
    with pytest.warns(RuntimeWarning, match="pure torch"):
        sim = TorchSimulator([small_params], [1], impl="auto")
    assert sim.impl_name == "torch"
    with pytest.raises(BackendError, match="native kernel is unavailable"):
        TorchSimulator([small_params], [1], impl="native")


def test_compile_choices(small_params):
    """compile: None compiles on CUDA only (the CPU default stays the native kernel); True picks
    the torch path with impl "auto" and is refused with impl "native"."""
    assert TorchSimulator([small_params], [1]).impl_name == "native"
    assert TorchSimulator([small_params], [1], impl="torch").compile is False
    sim = TorchSimulator([small_params], [1], compile=True)
    assert sim.impl_name == "torch" and sim.compile and sim._impl.compiled and not sim._impl.compile_auto
    with pytest.raises(BackendError, match="compile"):
        TorchSimulator([small_params], [1], impl="native", compile=True)


@pytest.mark.parametrize("auto", [True, False])
def test_failed_compilation(auto, small_params, make_images, torch_single_thread):
    """A torch.compile failure (raised before the step runs) with compile left to the engine
    (None): one warning, then the eager step from that tick on, with results equal to an eager
    engine's; with compile=True it is raised."""
    images = make_images(2, small_params.n_input, seed=5)
    calls = []

    def broken(*args):
        calls.append(1)
        raise torch._dynamo.exc.TorchDynamoException("inductor: no code for this graph")

    eager = TorchSimulator([small_params], [1], mode="fixed", impl="torch")
    sim = TorchSimulator([small_params], [1], mode="fixed", impl="torch")
    sim._impl.compiled, sim._impl.compile_auto, sim._impl._step_compiled = True, auto, broken
    if not auto:
        with pytest.raises(torch._dynamo.exc.TorchDynamoException, match="no code"):
            sim.run(images)
        return
    with pytest.warns(RuntimeWarning, match="torch.compile failed.*no code.*runs eagerly"):
        out = sim.run(images)
    ref = eager.run(images)
    assert len(calls) == 1 and sim.compile is False and not sim._impl.compiled
    assert sim._impl.compiled_ticks == 0 and sim._impl.eager_ticks == ref.steps[0] == out.steps[0]
    np.testing.assert_array_equal(out.counts, ref.counts)
    for k, v in eager.state_dict(0).items():
        np.testing.assert_array_equal(sim.state_dict(0)[k], v, err_msg=k)


def test_key_array_equals_key_for_numpy_and_torch():
    seeds = np.array([0, 1, 77, 2**32 - 1], dtype=np.int64)[:, None]
    counters = np.array([0, 3, 2**31 + 9, 2**33 + 1], dtype=np.int64)[None, :]
    for stream, draw in ((rng.Stream.NOISE, 0), (rng.Stream.NOISE, 1), (rng.Stream.DECAY + 2, 0)):
        expect = [[rng.key(int(s), stream, int(c), draw) for c in counters[0]] for s in seeds[:, 0]]
        np.testing.assert_array_equal(rng.key_array(seeds, stream, counters, draw), expect)
        got = rng.key_array(torch.from_numpy(seeds), stream, torch.from_numpy(counters), draw)
        np.testing.assert_array_equal(got.numpy(), expect)
        # the engine's device path: the (seed, stream) prefix once, then counters and draws as tensors
        prefix = rng.key_prefix(torch.from_numpy(seeds), stream)
        got = rng.key_from_prefix(prefix, torch.from_numpy(counters), torch.tensor([draw]))
        np.testing.assert_array_equal(got.numpy(), expect)


@pytest.mark.parametrize("counter", [0, 7, 2**32 + 5])
def test_native_random_stream_equals_rng(counter):
    idx = np.array([0, 1, 99, 2**20 + 3], dtype=np.int64)
    for stream in (rng.Stream.INPUT, rng.Stream.NOISE, rng.Stream.DECAY + 1):
        expect = rng.uniform_u32(rng.key(4242, stream, counter, 1), idx)
        got = [native.uniform_u32(4242, stream, counter, 1, int(i)) for i in idx]
        np.testing.assert_array_equal(got, expect)


@pytest.mark.cuda
@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA device; CPU equality is tested above and CI machines have no GPU",
)
@pytest.mark.parametrize("mode", ["fixed", "float"])
def test_cuda_matches_oracle(mode, small_params, make_images):
    params, seeds = _members(small_params, mode)
    images = make_images(8, small_params.n_input, seed=2)
    sim = TorchSimulator(params, seeds, mode=mode, device="cuda")
    assert sim.impl_name == "torch"
    out = sim.run(images, record_spikes=True)
    for b in range(3):
        ref = ReferenceSimulator(params[b], seeds[b], mode=mode)
        ro = ref.run(images, record_spikes=True)
        np.testing.assert_array_equal(out.spikes[b]["E"], ro.spikes["E"])
        np.testing.assert_array_equal(out.counts[b], ro.counts)
        rs, s = ref.state_dict(), sim.state_dict(b)
        for k in rs:
            if mode == "fixed":
                np.testing.assert_array_equal(s[k], rs[k], err_msg=k)
            else:
                np.testing.assert_allclose(s[k], rs[k], rtol=0, atol=1e-9, err_msg=k)
