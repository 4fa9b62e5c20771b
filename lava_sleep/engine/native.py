"""Native CPU path of the torch engine: a compiled C kernel that steps the torch state in place.

Per-op overhead decides speed on a CPU: one eager torch op costs microseconds, and an
event-driven step of the paper network needs ~50 of them, so even a fused tensor program
stays near 2,000-5,000 steps/s (ARCHITECTURE.md). This path therefore runs the whole
wake/sleep loop of a call in C (``native.c``): the state lives in torch CPU tensors owned by
:class:`NativeImpl`, the kernel reads and writes them through raw pointers, and the members
of a batch run in parallel threads (ctypes releases the GIL during the call).

The C source is compiled once per mode (float64, float32, fixed) with the system C compiler
(``$CC`` or ``cc``/``gcc``) into a cache directory (``$LAVA_SLEEP_CACHE`` or
``~/.cache/lava_sleep``), keyed by a hash of the source, flags and compiler; builds are
atomic (temp file + rename), so concurrent processes are safe. :func:`available` tells
whether a compiler exists; without one the engine uses its pure torch path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from lava_sleep import rng
from lava_sleep.params import PATHWAY_NAMES

SOURCE = Path(__file__).with_name("native.c")
#: Compiler flags. -ffp-contract=off: no fused multiply-add (NumPy rounds every product);
#: no -ffast-math (it reorders float arithmetic). -fno-math-errno only drops errno writes.
CFLAGS = ("-O3", "-std=c99", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno")
#: Tried first (vector units of this CPU; the cache key then includes the CPU's identity). The
#: build falls back to CFLAGS alone when the compiler rejects it.
NATIVE_FLAGS = ("-march=native",)
MODES = {"float64": "-DLS_F64", "float32": "-DLS_F32", "fixed": "-DLS_FIXED"}
POP_INDEX = {"X": 0, "E": 1, "I": 2}
MU_MODES = {0.0: 0, 1.0: 1, 0.5: 2, 2.0: 3}

_lock = threading.Lock()
_libs: dict[str, ctypes.CDLL] = {}


class NativeBuildError(RuntimeError):
    """The C kernel could not be compiled or loaded."""


def compiler() -> str | None:
    """Path of the C compiler used for the kernel (``$CC``, then cc, gcc, clang), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name:
            path = shutil.which(name)
            if path:
                return path
    return None


def cache_dir() -> Path:
    env = os.environ.get("LAVA_SLEEP_CACHE")
    if env:
        return Path(env) / "native"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lava_sleep" / "native"


def available() -> bool:
    """True when a C compiler exists (the kernel can be built) on this machine."""
    return compiler() is not None


def _cpu_id() -> str:
    """Model and feature flags of this CPU (part of the cache key of -march=native builds)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    keep = [ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags")]
    return "\n".join(sorted(set(keep)))


def _build(mode: str) -> Path:
    cc = compiler()
    if cc is None:
        raise NativeBuildError("no C compiler found (set CC or install gcc)")
    last_error = None
    for extra in (NATIVE_FLAGS, ()):
        try:
            return _build_with(cc, mode, CFLAGS + extra)
        except NativeBuildError as exc:
            last_error = exc
    raise last_error


def _build_with(cc: str, mode: str, flags: tuple[str, ...]) -> Path:
    src = SOURCE.read_bytes()
    defines = (MODES[mode], f"-DNORMAL_INT_SD={rng.NORMAL_INT_SD!r}")
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise NativeBuildError(f"C compiler {cc} does not run: {exc}") from None
    h = hashlib.sha256()
    for part in (src, " ".join(flags + defines).encode(), version.encode(), cc.encode(),
                 platform.machine().encode(), platform.system().encode(), _cpu_id().encode()):
        h.update(part)
        h.update(b"\0")
    dirs = [cache_dir(), Path(tempfile.gettempdir()) / f"lava_sleep-{os.getuid()}" / "native"]
    target = None
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(d, os.W_OK):
            target = d / f"ls_{mode}_{h.hexdigest()[:16]}.so"
            break
    if target is None:
        raise NativeBuildError("no writable cache directory for the compiled kernel")
    if target.exists():
        return target
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        cmd = [cc, *flags, *defines, str(SOURCE), "-o", tmp, "-lm"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise NativeBuildError(f"compiling {SOURCE.name} failed:\n{res.stderr.strip()}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load(mode: str) -> ctypes.CDLL:
    """The compiled kernel for ``mode`` (float64, float32 or fixed), built on first use."""
    with _lock:
        lib = _libs.get(mode)
        if lib is None:
            path = _build(mode)
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:  # e.g. a cache folder on a noexec mount
                raise NativeBuildError(f"cannot load the compiled kernel {path}: {exc}") from None
            lib.ls_run.restype = ctypes.c_int64
            lib.ls_run.argtypes = [ctypes.POINTER(MemberC), ctypes.POINTER(CallC)]
            lib.ls_uniform_u32.restype = ctypes.c_int64
            lib.ls_uniform_u32.argtypes = [ctypes.c_int64] * 5
            lib.ls_struct_size.restype = ctypes.c_int64
            lib.ls_struct_size.argtypes = [ctypes.c_int64]
            for which, mirror in enumerate((PathC, MemberC, CallC)):
                if lib.ls_struct_size(which) != ctypes.sizeof(mirror):
                    raise NativeBuildError(f"{mirror.__name__} does not match its C structure "
                                           f"({ctypes.sizeof(mirror)} != {lib.ls_struct_size(which)} bytes)")
            _libs[mode] = lib
        return lib


# -- ctypes mirrors of the C structures (field order matters) ------------------------------------
_I, _D, _P = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p


def _fields(spec: str, ctype):
    return [(name, ctype) for name in spec.split()]


class PathC(ctypes.Structure):
    _fields_ = (
        _fields("n_pre n_post pre_pop post_pop plastic shift rule mu_mode", _I)
        + _fields("mu eta_plus eta_minus alpha m_min m_max m_floor static_target total0", _D)
        + _fields("i_eta_plus i_eta_minus i_alpha i_m_min i_m_max i_m_floor i_total0", _I)
        + _fields("m mask acc row_total0 b_tab row_touched col_touched", _P)
    )


class MemberC(ctypes.Structure):
    _fields_ = (
        _fields("seed nx ne ni", _I)
        + _fields("k_u k_v k_a gain v_thresh v_reset v_min v_max a_min a_max delta_a bias", _D)
        + _fields("noise_wake noise_sleep", _D)
        + _fields("i_k_u i_k_v i_k_a i_v_thresh i_v_reset i_v_min i_v_max i_a_min i_a_max", _I)
        + _fields("i_delta_a i_bias i_sigma_wake i_sigma_sleep", _I)
        + _fields("k_plus k_minus", _D)
        + _fields("i_k_plus i_k_minus trace_impulse trace_max", _I)
        + _fields("t_epoch learn_in_sleep dw_frac_bits", _I)
        + _fields("sleeping period block form target prune decay_frac_bits", _I)
        + _fields("tol decay_noise", _D)
        + _fields("c_tab lk_tab u v a pending x y counters", _P)
        + [("path", PathC * 4)]
    )


class CallC(ctypes.Structure):
    _fields_ = (
        [("thr", _P)]
        + _fields("n_images spi learn sleep_on", _I)
        + [("counts", _P), ("rec_cap", _I)]
        + _fields("rec_x rec_n rec_asleep", _P)
        + [("eps_cap", _I)]
        + _fields("planned eps_i eps_tot", _P)
        + _fields("n_eps steps sleep_steps status", _I)
    )


def uniform_u32(seed: int, stream: int, counter: int, draw: int, index: int, mode: str = "float64") -> int:
    """The kernel's ``rng.uniform_u32(rng.key(seed, stream, counter, draw), index)`` (for tests)."""
    return int(load(mode).ls_uniform_u32(seed, int(stream), counter, draw, index))


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


class NativeImpl:
    """Batch state as CPU torch tensors plus the per-member C structures that point into them.

    Weights, masks and accumulators are stored transposed, (B, pre, post), so that the columns
    of spiking presynaptic cells are contiguous; :meth:`state_dict` returns the oracle's
    (post, pre) layout.
    """

    name = "native"

    def __init__(self, sim, threads: int | None = None):
        self.sim = sim
        self.mode = "fixed" if sim.fixed else sim.dtype_name
        self.lib = load(self.mode)
        B, (nx, ne, ni) = sim.batch, sim.sizes
        self.nx, self.ne, self.ni = nx, ne, ni
        nn = ne + ni
        dt = sim.torch_dtype
        z = lambda *shape, dtype=dt: torch.zeros(shape, dtype=dtype)  # noqa: E731
        self.u, self.v, self.a, self.pending = z(B, nn), z(B, nn), z(B, nn), z(B, nn)
        self.x, self.y = z(B, nx + nn), z(B, nn)
        self.counters = z(B, 4, dtype=torch.int64)
        self.m, self.mask, self.acc, self.row_total0 = {}, {}, {}, {}
        self.row_touched, self.col_touched, self.b_tab = {}, {}, {}
        block = max(mi.params.sleep.block for mi in sim.members)
        plastic = sim.members[0].rules  # the same pathways learn in every member
        for name in PATHWAY_NAMES:
            n_post, n_pre = sim.shapes[name]
            self.m[name] = z(B, n_pre, n_post)
            self.mask[name] = z(B, n_pre, n_post, dtype=torch.uint8)
            self.acc[name] = z(B, n_pre, n_post) if name in plastic else z(B, 0)
            self.row_total0[name] = z(B, n_post)
            self.row_touched[name] = z(B, n_post, dtype=torch.uint8)
            self.col_touched[name] = z(B, n_pre, dtype=torch.uint8)
            self.b_tab[name] = z(B, block + 1, dtype=torch.int64)
        self.c_tab = z(B, block + 1, dtype=torch.float64)
        self.lk_tab = z(B, block + 1, dtype=torch.int64)
        self.structs = (MemberC * B)()
        for b, mi in enumerate(sim.members):
            self._fill_member(b, mi)
        n_threads = threads if threads is not None else torch.get_num_threads()
        self.n_threads = max(1, min(B, int(n_threads)))
        self._pool = ThreadPoolExecutor(self.n_threads) if self.n_threads > 1 else None

    # -- setup --------------------------------------------------------------------------------
    def _fill_member(self, b: int, mi) -> None:
        sim, s = self.sim, self.structs[b]
        p, fc = mi.params, mi.fc
        s.seed, s.nx, s.ne, s.ni = mi.seed, self.nx, self.ne, self.ni
        nc = mi.nc_float
        for f in ("k_u", "k_v", "k_a", "gain", "v_thresh", "v_reset", "v_min", "v_max", "a_min", "a_max",
                  "delta_a", "bias", "noise_wake", "noise_sleep"):
            setattr(s, f, getattr(nc, f))
        if fc is not None:
            for f in ("k_u", "k_v", "k_a", "v_thresh", "v_reset", "v_min", "v_max", "a_min", "a_max",
                      "delta_a", "bias", "sigma_wake", "sigma_sleep"):
                setattr(s, "i_" + f, getattr(fc, f))
            s.i_k_plus, s.i_k_minus = fc.k_plus, fc.k_minus
            s.trace_impulse, s.trace_max = fc.trace_impulse, fc.trace_max
            s.dw_frac_bits, s.decay_frac_bits = fc.dw_frac_bits, fc.decay_frac_bits
        else:
            s.k_plus, s.k_minus = mi.k_plus, mi.k_minus
        s.t_epoch, s.learn_in_sleep = p.stdp.t_epoch, int(p.stdp.learn_in_sleep)
        sp = p.sleep
        s.sleeping, s.period, s.block = int(sp.fraction > 0), sp.period, sp.block
        dc0 = next(iter(mi.decay.values()), None)
        form = dc0.form if dc0 is not None else sp.form
        s.form, s.target = {"log": 0, "linear": 1}[form], {"static": 0, "group": 1, "neuron": 2}[sp.target]
        s.prune, s.tol = int(sp.prune), sp.tol
        s.decay_noise = dc0.noise if dc0 is not None else 0.0
        # K-step constants exactly as kernels.sleep computes them (Python floats / round()).
        self.c_tab[b] = torch.tensor([1.0 - sp.lam**k for k in range(self.c_tab.shape[1])],
                                     dtype=torch.float64)
        if fc is not None:
            one = 1 << fc.decay_frac_bits
            lks = [int(round(sp.lam**k * one)) for k in range(self.lk_tab.shape[1])]
            self.lk_tab[b] = torch.tensor(lks, dtype=torch.int64)
        s.c_tab, s.lk_tab = _ptr(self.c_tab[b]), _ptr(self.lk_tab[b])
        s.u, s.v, s.a, s.pending = (_ptr(t[b]) for t in (self.u, self.v, self.a, self.pending))
        s.x, s.y, s.counters = _ptr(self.x[b]), _ptr(self.y[b]), _ptr(self.counters[b])
        for k, name in enumerate(PATHWAY_NAMES):
            pw, ps = p.network.pathway(name), s.path[k]
            ps.n_post, ps.n_pre = sim.shapes[name]
            ps.pre_pop, ps.post_pop = POP_INDEX[pw.pre], POP_INDEX[pw.post]
            ps.plastic = int(name in mi.rules)
            if fc is not None:
                pf = fc.pathways[name]
                ps.shift, ps.i_m_min, ps.i_m_max, ps.i_m_floor = pf.shift, pf.m_min, pf.m_max, pf.m_floor
            if name in mi.rules:
                rule, dc = mi.rules[name], mi.decay[name]
                ps.rule = {"stdp": 0, "vogels": 1}[rule.rule]
                ps.mu, ps.mu_mode = float(rule.mu), MU_MODES.get(float(rule.mu), 4)
                if rule.fixed:
                    ps.i_eta_plus, ps.i_eta_minus, ps.i_alpha = rule.eta_plus, rule.eta_minus, rule.alpha
                    ps.i_total0 = int(mi.total0[name])
                    tab = [int(round(dc.static_target * (one - lk))) for lk in lks]
                    self.b_tab[name][b] = torch.tensor(tab, dtype=torch.int64)
                else:
                    ps.eta_plus, ps.eta_minus, ps.alpha = rule.eta_plus, rule.eta_minus, rule.alpha
                    ps.m_min, ps.m_max, ps.m_floor = rule.m_min, rule.m_max, dc.m_floor
                    ps.total0 = float(mi.total0[name])
                ps.static_target = float(dc.static_target)
                self.row_total0[name][b] = torch.from_numpy(np.asarray(mi.row_total0[name]))
            ps.m, ps.mask, ps.acc = (_ptr(t[name][b]) for t in (self.m, self.mask, self.acc))
            ps.row_total0, ps.b_tab = _ptr(self.row_total0[name][b]), _ptr(self.b_tab[name][b])
            ps.row_touched, ps.col_touched = _ptr(self.row_touched[name][b]), _ptr(self.col_touched[name][b])

    # -- state --------------------------------------------------------------------------------
    def state_dict(self, b: int) -> dict[str, np.ndarray]:
        nx, ne = self.nx, self.ne
        d = {k: getattr(self, k)[b].numpy().copy() for k in ("u", "v", "a", "pending")}
        d["counters"] = self.counters[b].numpy().copy()
        x, y = self.x[b].numpy(), self.y[b].numpy()
        d["x_X"], d["x_E"], d["x_I"] = x[:nx].copy(), x[nx:nx + ne].copy(), x[nx + ne:].copy()
        d["y_E"], d["y_I"] = y[:ne].copy(), y[ne:].copy()
        for name in PATHWAY_NAMES:
            d[f"m_{name}"] = self.m[name][b].numpy().T.copy()
            d[f"mask_{name}"] = self.mask[name][b].numpy().T.astype(bool)
        for name in self.sim.members[b].rules:
            d[f"acc_{name}"] = self.acc[name][b].numpy().T.copy()
        return d

    def load_state_dict(self, b: int, d) -> None:
        nx, ne = self.nx, self.ne
        dt = self.sim.np_dtype

        def put(dst, arr, dtype=dt):
            dst.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(arr).astype(dtype))))

        for k in ("u", "v", "a", "pending"):
            put(getattr(self, k)[b], d[k])
        put(self.counters[b], d["counters"], np.int64)
        put(self.x[b, :nx], d["x_X"])
        put(self.x[b, nx:nx + ne], d["x_E"])
        put(self.x[b, nx + ne:], d["x_I"])
        put(self.y[b, :ne], d["y_E"])
        put(self.y[b, ne:], d["y_I"])
        for name in PATHWAY_NAMES:
            put(self.m[name][b], np.asarray(d[f"m_{name}"]).T)
            put(self.mask[name][b], np.asarray(d[f"mask_{name}"]).T, np.uint8)
            self.acc[name][b].zero_()
            self.row_touched[name][b].zero_()
            self.col_touched[name][b].zero_()
        for name in self.sim.members[b].rules:
            put(self.acc[name][b], np.asarray(d[f"acc_{name}"]).T)
            # a pending accumulator is applied at the next epoch end: mark its columns touched
            self.col_touched[name][b].copy_((self.acc[name][b] != 0).any(1).to(torch.uint8))

    def magnitudes(self, b: int, name: str) -> np.ndarray:
        return self.m[name][b].numpy().T

    def mask_of(self, b: int, name: str) -> np.ndarray:
        return self.mask[name][b].numpy().T.astype(bool)

    # -- run ----------------------------------------------------------------------------------
    def run(self, thr: np.ndarray, learn: bool, sleep_on: bool, record: bool, progress,
            slice_images: int = 8):
        """Simulate every member over the images of ``thr`` ((n, P) or (B, n, P) int64 thresholds)."""
        sim, B = self.sim, self.sim.batch
        n = thr.shape[-2]
        spi = sim.params0.input.steps_per_image
        thr = np.ascontiguousarray(thr, dtype=np.int64)
        counts = np.zeros((B, n, self.ne), dtype=np.int64)
        episodes = [[] for _ in range(B)]
        rec = [{"X": [], "N": [], "asleep": []} for _ in range(B)] if record else None
        steps = np.zeros(B, dtype=np.int64)
        sleep_steps = np.zeros(B, dtype=np.int64)
        for i0 in range(0, n, slice_images):
            i1 = min(n, i0 + slice_images)
            calls, keep = [], []
            for b in range(B):
                c, bufs = self._make_call(b, thr, i0, i1, spi, learn, sleep_on, record, counts)
                calls.append(c)
                keep.append(bufs)
            self._execute(calls)
            for b, (c, bufs) in enumerate(zip(calls, keep, strict=True)):
                if c.status != 0:
                    raise RuntimeError(f"native kernel failed for member {b} (status {c.status})")
                steps[b] += c.steps
                sleep_steps[b] += c.sleep_steps
                episodes[b].extend(self._episodes(c, bufs))
                if record:
                    rec[b]["X"].append(bufs["rec_x"][: c.steps].astype(bool))
                    rec[b]["N"].append(bufs["rec_n"][: c.steps].astype(bool))
                    rec[b]["asleep"].append(bufs["rec_asleep"][: c.steps].astype(bool))
            if progress is not None:
                progress(B * i1)
        spikes = None
        if record:
            spikes = []
            for r in rec:
                nn = np.concatenate(r["N"]) if r["N"] else np.zeros((0, self.ne + self.ni), bool)
                spikes.append({
                    "X": np.concatenate(r["X"]) if r["X"] else np.zeros((0, self.nx), bool),
                    "E": nn[:, : self.ne], "I": nn[:, self.ne:],
                    "asleep": np.concatenate(r["asleep"]) if r["asleep"] else np.zeros(0, bool),
                })
        return counts, episodes, spikes, steps, sleep_steps

    def _make_call(self, b, thr, i0, i1, spi, learn, sleep_on, record, counts):
        mi = self.sim.members[b]
        sp = mi.params.sleep
        c = CallC()
        t_b = thr[b] if thr.ndim == 3 else thr
        c.thr = t_b[i0:i1].ctypes.data
        c.n_images, c.spi, c.learn, c.sleep_on = i1 - i0, spi, int(learn), int(sleep_on)
        c.counts = counts[b, i0:i1].ctypes.data
        wake_t, n_ep = int(self.counters[b, 1]), int(self.counters[b, 2])
        n_wake = (i1 - i0) * spi
        cap = 0
        if sleep_on and sp.fraction > 0:
            cap = (wake_t + n_wake) // sp.period - wake_t // sp.period
        planned = np.array([sp.episode_length(n_ep + k) for k in range(1, cap + 1)] or [0], dtype=np.int64)
        bufs = {"planned": planned, "eps_i": np.zeros((max(cap, 1), 6), np.int64),
                "eps_tot": np.zeros((max(cap, 1), 8), np.float64), "thr": t_b}
        c.eps_cap = cap
        c.planned, c.eps_i, c.eps_tot = (bufs[k].ctypes.data for k in ("planned", "eps_i", "eps_tot"))
        if record:
            rcap = n_wake + int(planned[:cap].sum())
            bufs["rec_x"] = np.zeros((rcap, self.nx), np.uint8)
            bufs["rec_n"] = np.zeros((rcap, self.ne + self.ni), np.uint8)
            bufs["rec_asleep"] = np.zeros(rcap, np.uint8)
            c.rec_cap = max(rcap, 1)
            c.rec_x, c.rec_n, c.rec_asleep = (bufs[k].ctypes.data for k in ("rec_x", "rec_n", "rec_asleep"))
        return c, bufs

    def _execute(self, calls) -> None:
        B = len(calls)

        def work(lo, hi):
            for b in range(lo, hi):
                self.lib.ls_run(ctypes.byref(self.structs[b]), ctypes.byref(calls[b]))

        if self._pool is None:
            work(0, B)
            return
        bounds = np.linspace(0, B, self.n_threads + 1).round().astype(int)
        futures = [self._pool.submit(work, int(lo), int(hi))
                   for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
        for f in futures:
            f.result()

    @staticmethod
    def _episodes(c, bufs) -> list[dict]:
        out = []
        for k in range(c.n_eps):
            e, tot = bufs["eps_i"][k], bufs["eps_tot"][k]
            if e[0] < 0:  # an episode of planned length 0 (counted, not recorded, as in the oracle)
                continue
            out.append({
                "episode": int(e[0]), "start_step": int(e[1]), "wake_step": int(e[2]),
                "planned": int(e[3]), "used": int(e[4]), "woke_early": bool(e[5]),
                "totals_before": {n: float(tot[i]) for i, n in enumerate(PATHWAY_NAMES)},
                "totals_after": {n: float(tot[4 + i]) for i, n in enumerate(PATHWAY_NAMES)},
            })
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
