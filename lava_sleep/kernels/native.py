"""The compiled kernel (``native.c``): build, load, and one network's state in NumPy arrays.

Per-call overhead decides speed on a CPU: one NumPy or eager torch call costs about a
microsecond or more, and an event-driven step of the paper network needs ~50 of them. The C
kernel runs the oracle's step (lava_sleep/reference.py) operation for operation on state held
in NumPy arrays (:class:`NativeNetwork`), through raw pointers. Two users:

* the torch engine's native CPU path (lava_sleep/engine/native.py) runs the whole wake/sleep
  loop of a call per member with ``ls_run``, and an on-demand sleep episode with ``ls_sleep``
  (members in parallel threads; ctypes releases the GIL during the call);
* the fused Lava ProcessModel (lava_sleep/processes/ei_network) runs one step at a time with
  ``ls_step`` and one decay block with ``ls_decay``, keeping the schedule and the messaging in
  Python.

This module never imports torch (Lava ProcessModels use it).

The C source is compiled once per mode (float64, float32, fixed) with the system C compiler
(``$CC`` or ``cc``/``gcc``) into a cache directory (``$LAVA_SLEEP_CACHE`` or
``~/.cache/lava_sleep``), keyed by a hash of the source, flags and compiler; builds are
atomic (temp file + rename), so concurrent processes are safe. :func:`available` tells
whether a compiler exists; without one the engine uses its pure torch path.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from lava_sleep import rng
from lava_sleep.fixed import pathway_drive
from lava_sleep.kernels import neuron
from lava_sleep.params import PATHWAY_NAMES, ModelParams

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
RULES = {"stdp": 0, "vogels": 1, "diehl_cook": 2}
#: FixedParams.trace_rounding / dw_rounding -> the kernel's ROUND_* codes
ROUNDING = {"stochastic": 0, "nearest": 1, "floor": 2}

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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise NativeBuildError(f"cannot write the compiled kernel into {target.parent}: {exc}") from None
    os.close(fd)
    try:
        cmd = [cc, *flags, *defines, str(SOURCE), "-o", tmp, "-lm"]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if res.returncode == 0:
                os.replace(tmp, target)
        except (OSError, subprocess.SubprocessError) as exc:
            raise NativeBuildError(f"compiling {SOURCE.name} with {cc} failed: {exc}") from None
        if res.returncode != 0:
            raise NativeBuildError(f"compiling {SOURCE.name} failed:\n{res.stderr.strip()}")
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
            lib.ls_sleep.restype = ctypes.c_int64
            lib.ls_sleep.argtypes = [ctypes.POINTER(MemberC), ctypes.POINTER(CallC), ctypes.c_int64]
            lib.ls_uniform_u32.restype = ctypes.c_int64
            lib.ls_uniform_u32.argtypes = [ctypes.c_int64] * 5
            lib.ls_step.restype = ctypes.c_int64
            lib.ls_step.argtypes = [ctypes.POINTER(MemberC), ctypes.POINTER(CallC), ctypes.c_int64]
            lib.ls_decay.restype = ctypes.c_int64
            lib.ls_decay.argtypes = [ctypes.POINTER(MemberC), ctypes.c_int64, ctypes.c_int64]
            lib.ls_normalize.restype = ctypes.c_int64
            lib.ls_normalize.argtypes = [ctypes.POINTER(MemberC), ctypes.c_int64]
            lib.ls_struct_size.restype = ctypes.c_int64
            lib.ls_struct_size.argtypes = [ctypes.c_int64]
            for which, mirror in enumerate((PathC, MemberC, CallC)):
                if lib.ls_struct_size(which) != ctypes.sizeof(mirror):
                    raise NativeBuildError(f"{mirror.__name__} does not match its C structure "
                                           f"({ctypes.sizeof(mirror)} != {lib.ls_struct_size(which)} bytes)")
            _libs[mode] = lib
        return lib


def resolve_step(kernel: str, mode: str) -> str:
    """Which step a fused model runs for ``kernel`` "auto", "native" or "numpy" in ``mode``
    ("float64", "float32", "fixed"): "native" when the kernel can be built (building it now),
    else "numpy"; an explicit "native" that cannot be built raises :class:`NativeBuildError`."""
    if kernel == "numpy":
        return kernel
    try:
        load(mode)
    except NativeBuildError:
        if kernel == "native":
            raise
        return "numpy"
    return "native"


# -- ctypes mirrors of the C structures (field order matters) ------------------------------------
_I, _D, _P = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p


def _fields(spec: str, ctype):
    return [(name, ctype) for name in spec.split()]


class PathC(ctypes.Structure):
    _fields_ = (
        _fields("n_pre n_post pre_pop post_pop plastic w_mult rule mu_mode", _I)
        + _fields("mu eta_plus eta_minus alpha m_min m_max m_floor static_target total0", _D)
        + _fields("i_eta_plus i_eta_minus i_alpha i_m_min i_m_max i_m_floor i_total0", _I)
        + _fields("m mask acc row_total0 b_tab row_touched col_touched", _P)
        + [("normalize", _I)]
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
        + _fields("c_tab lk_tab u v a pending x y counters drive", _P)
        + [("path", PathC * 4)]
        + [("a_decay_every", _I)]
        + [("freeze_adaptation", _I)]  # calls with learn = 0 leave the adaptation unchanged
        + _fields("trace_rounding dw_rounding", _I)  # fixed: ROUNDING codes
        + [("onchip", _I)]  # SleepParams.site == "onchip"
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
        + [("activity", _P)]  # NULL (a fresh CallC) = spike totals not counted
        + [("rest", _I)]  # ls_run: rest steps after each image's spi presentation steps
    )


def uniform_u32(seed: int, stream: int, counter: int, draw: int, index: int, mode: str = "float64") -> int:
    """The kernel's ``rng.uniform_u32(rng.key(seed, stream, counter, draw), index)`` (for tests)."""
    return int(load(mode).ls_uniform_u32(seed, int(stream), counter, draw, index))




# -- one network ----------------------------------------------------------------------------------
@dataclasses.dataclass
class MemberConsts:
    """Per-network constants taken from the oracle's initialisation (ReferenceSimulator)."""

    params: ModelParams
    seed: int
    fc: object  # FixedConstants or None
    nc_float: neuron.NeuronConstsFloat
    rules: dict
    decay: dict
    total0: dict
    row_total0: dict
    k_plus: float
    k_minus: float

    @classmethod
    def from_reference(cls, ref) -> MemberConsts:
        """The constants of a :class:`~lava_sleep.reference.ReferenceSimulator` ``ref``."""
        return cls(params=ref.params, seed=ref.seed, fc=ref.fc,
                   nc_float=neuron.neuron_consts_float(ref.params), rules=dict(ref.rules),
                   decay=dict(ref.decay), total0=dict(ref.total0), row_total0=dict(ref.row_total0),
                   k_plus=ref.k_plus, k_minus=ref.k_minus)


class NativeNetwork:
    """One network's state in NumPy arrays plus the C structure (``MemberC``) pointing into them.

    Weights, masks and accumulators are stored transposed, (pre, post), so that the columns of
    spiking presynaptic cells are contiguous; :meth:`state_dict` and :meth:`magnitudes` give the
    oracle's (post, pre) layout. Load a state (``ReferenceSimulator.state_dict()``) before running.

    Args:
        consts: the network's constants (:meth:`MemberConsts.from_reference`).
        mode: "float64", "float32" or "fixed" (which kernel build runs it).
        keep_drive: keep the four partial drives of the last step (:meth:`drives`).
    """

    def __init__(self, consts: MemberConsts, mode: str, keep_drive: bool = False):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {tuple(MODES)}, got {mode!r}")
        self.consts, self.mode = consts, mode
        self.lib = load(mode)
        p = consts.params
        sizes = p.sizes()
        self.nx, self.ne, self.ni = nx, ne, ni = sizes["X"], sizes["E"], sizes["I"]
        nn = ne + ni
        self.dtype = {"float64": np.float64, "float32": np.float32, "fixed": np.int64}[mode]
        z = lambda *shape, dtype=self.dtype: np.zeros(shape, dtype=dtype)  # noqa: E731
        self.u, self.v, self.a, self.pending = z(nn), z(nn), z(nn), z(nn)
        self.x, self.y = z(nx + nn), z(nn)
        self.counters = z(4, dtype=np.int64)
        self.drive = z(3 * ne + ni) if keep_drive else None
        block = p.sleep.block
        self.c_tab, self.lk_tab = z(block + 1, dtype=np.float64), z(block + 1, dtype=np.int64)
        self.m, self.mask, self.acc, self.row_total0 = {}, {}, {}, {}
        self.row_touched, self.col_touched, self.b_tab = {}, {}, {}
        for name in PATHWAY_NAMES:
            n_post, n_pre = sizes[name[1]], sizes[name[0]]
            self.m[name] = z(n_pre, n_post)
            self.mask[name] = z(n_pre, n_post, dtype=np.uint8)
            self.acc[name] = z(n_pre, n_post) if name in consts.rules else z(0)
            self.row_total0[name] = z(n_post)
            self.row_touched[name] = z(n_post, dtype=np.uint8)
            self.col_touched[name] = z(n_pre, dtype=np.uint8)
            self.b_tab[name] = z(block + 1, dtype=np.int64)
        self.struct = MemberC()
        self._fill()

    def _fill(self) -> None:
        mi, s = self.consts, self.struct
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
            s.trace_rounding, s.dw_rounding = ROUNDING[fc.trace_rounding], ROUNDING[fc.dw_rounding]
        else:
            s.k_plus, s.k_minus = mi.k_plus, mi.k_minus
        s.a_decay_every, s.freeze_adaptation = p.neuron.a_decay_every, int(p.neuron.freeze_adaptation)
        s.t_epoch, s.learn_in_sleep = p.stdp.t_epoch, int(p.stdp.learn_in_sleep)
        sp = p.sleep
        s.sleeping, s.period, s.block = int(sp.fraction > 0), sp.period, sp.block
        dc0 = next(iter(mi.decay.values()), None)
        form = dc0.form if dc0 is not None else sp.form
        s.form, s.target = {"log": 0, "linear": 1}[form], {"static": 0, "group": 1, "neuron": 2}[sp.target]
        s.prune, s.tol, s.onchip = int(sp.prune), sp.tol, int(sp.site == "onchip")
        s.decay_noise = dc0.noise if dc0 is not None else 0.0
        # K-step constants exactly as kernels.sleep computes them (Python floats / round()).
        self.c_tab[:] = [1.0 - sp.decay_lam()**k for k in range(len(self.c_tab))]
        lks = []
        if fc is not None:
            one = 1 << fc.decay_frac_bits
            lks = [int(round(sp.decay_lam()**k * one)) for k in range(len(self.lk_tab))]
            self.lk_tab[:] = lks
        ptr = lambda a: a.ctypes.data  # noqa: E731
        s.c_tab, s.lk_tab = ptr(self.c_tab), ptr(self.lk_tab)
        s.u, s.v, s.a, s.pending = ptr(self.u), ptr(self.v), ptr(self.a), ptr(self.pending)
        s.x, s.y, s.counters = ptr(self.x), ptr(self.y), ptr(self.counters)
        s.drive = ptr(self.drive) if self.drive is not None else None
        for k, name in enumerate(PATHWAY_NAMES):
            pw, ps = p.network.pathway(name), s.path[k]
            ps.n_pre, ps.n_post = self.m[name].shape
            ps.pre_pop, ps.post_pop = POP_INDEX[pw.pre], POP_INDEX[pw.post]
            ps.plastic = int(name in mi.rules)
            if fc is not None:
                pf = fc.pathways[name]
                ps.w_mult, ps.i_m_min, ps.i_m_max, ps.i_m_floor = pf.w_mult, pf.m_min, pf.m_max, pf.m_floor
            if name in mi.rules:
                rule, dc = mi.rules[name], mi.decay[name]
                ps.rule = RULES[rule.rule]
                ps.normalize = int(pw.normalize)
                ps.mu, ps.mu_mode = float(rule.mu), MU_MODES.get(float(rule.mu), 4)
                if rule.fixed:
                    ps.i_eta_plus, ps.i_eta_minus, ps.i_alpha = rule.eta_plus, rule.eta_minus, rule.alpha
                    ps.i_total0 = int(mi.total0[name])
                    self.b_tab[name][:] = [int(round(dc.static_target * (one - lk))) for lk in lks]
                else:
                    ps.eta_plus, ps.eta_minus, ps.alpha = rule.eta_plus, rule.eta_minus, rule.alpha
                    ps.m_min, ps.m_max, ps.m_floor = rule.m_min, rule.m_max, dc.m_floor
                    ps.total0 = float(mi.total0[name])
                ps.static_target = float(dc.static_target)
                self.row_total0[name][:] = np.asarray(mi.row_total0[name])
            ps.m, ps.mask, ps.acc = ptr(self.m[name]), ptr(self.mask[name]), ptr(self.acc[name])
            ps.row_total0, ps.b_tab = ptr(self.row_total0[name]), ptr(self.b_tab[name])
            ps.row_touched, ps.col_touched = ptr(self.row_touched[name]), ptr(self.col_touched[name])

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The state with the keys and dtypes of ReferenceSimulator.state_dict (copies)."""
        nx, ne = self.nx, self.ne
        d = {k: getattr(self, k).copy() for k in ("u", "v", "a", "pending", "counters")}
        d["x_X"], d["x_E"], d["x_I"] = self.x[:nx].copy(), self.x[nx:nx + ne].copy(), self.x[nx + ne:].copy()
        d["y_E"], d["y_I"] = self.y[:ne].copy(), self.y[ne:].copy()
        for name in PATHWAY_NAMES:
            d[f"m_{name}"] = self.m[name].T.copy()
            d[f"mask_{name}"] = self.mask[name].T.astype(bool)
        for name in self.consts.rules:
            d[f"acc_{name}"] = self.acc[name].T.copy()
        return d

    def load_state_dict(self, d) -> None:
        """Load a ReferenceSimulator.state_dict (in place: the C structure keeps its pointers)."""
        nx, ne = self.nx, self.ne

        def put(dst, arr):
            dst[...] = np.asarray(arr).astype(dst.dtype)

        for k in ("u", "v", "a", "pending", "counters"):
            put(getattr(self, k), d[k])
        put(self.x[:nx], d["x_X"])
        put(self.x[nx:nx + ne], d["x_E"])
        put(self.x[nx + ne:], d["x_I"])
        put(self.y[:ne], d["y_E"])
        put(self.y[ne:], d["y_I"])
        if self.drive is not None:
            self.drive[:] = 0
        for name in PATHWAY_NAMES:
            put(self.m[name], np.asarray(d[f"m_{name}"]).T)
            put(self.mask[name], np.asarray(d[f"mask_{name}"]).T)
            self.acc[name][...] = 0
            self.row_touched[name][:] = 0
            self.col_touched[name][:] = 0
        for name in self.consts.rules:
            put(self.acc[name], np.asarray(d[f"acc_{name}"]).T)
            # a pending accumulator is applied at the next epoch end: mark its columns touched
            self.col_touched[name][:] = (self.acc[name] != 0).any(1)

    def magnitudes(self, name: str) -> np.ndarray:
        """Magnitudes of pathway ``name``, (post, pre) view of the live state."""
        return self.m[name].T

    def mask_of(self, name: str) -> np.ndarray:
        return self.mask[name].T.astype(bool)

    def drives(self) -> dict[str, np.ndarray]:
        """Signed drive of the next step per pathway, as each Dense would deliver it (fixed:
        integer units, ``lava_sleep.fixed.pathway_drive``; new arrays). Needs ``keep_drive=True``; after
        :meth:`load_state_dict` they are zero until the next step (a state_dict holds only their
        sum, ``pending``)."""
        if self.drive is None:
            raise ValueError("drives() needs a NativeNetwork made with keep_drive=True")
        ne, d = self.ne, self.drive
        out = {"XE": d[:ne], "EE": d[ne:2 * ne], "IE": d[2 * ne:3 * ne], "EI": d[3 * ne:]}
        for name in PATHWAY_NAMES:
            v = out[name]
            if self.mode == "fixed":
                v = pathway_drive(v, self.consts.fc.pathways[name])
            out[name] = 0 - v if self.consts.params.network.pathway(name).sign < 0 else v.copy()
        return out

    # -- running --------------------------------------------------------------------------------
    #: Meaning of the kernel's non-zero status codes.
    STATUS = {-1: "recording buffer full", -2: "more sleep episodes than planned for the call",
              -3: "out of memory", -4: "bad arguments (pathway not plastic, or block longer than "
                                        "SleepParams.block)"}

    def _check(self, status: int, what: str) -> None:
        if status:
            reason = self.STATUS.get(int(status), "unknown error")
            raise RuntimeError(f"native {what} failed: {reason} (status {int(status)})")

    def run(self, call: CallC) -> int:
        """The whole wake/sleep loop over ``call``'s images (``ls_run``); returns its status."""
        return int(self.lib.ls_run(ctypes.byref(self.struct), ctypes.byref(call)))

    def sleep(self, call: CallC, planned: int) -> int:
        """One on-demand sleep episode of ``planned`` steps (``ls_sleep``: ReferenceSimulator.sleep)
        with ``call``'s learn flag, activity and recording buffers, recorded in its first episode
        row; returns its status."""
        return int(self.lib.ls_sleep(ctypes.byref(self.struct), ctypes.byref(call), int(planned)))

    def step(self, call: CallC, asleep: bool) -> None:
        """One network step (``ls_step``) with ``call``'s image, count row, learn flag, recording."""
        self._check(self.lib.ls_step(ctypes.byref(self.struct), ctypes.byref(call), int(asleep)), "step")

    def normalize(self, name: str) -> None:
        """Per-image normalization of plastic pathway ``name`` (``ls_normalize``), as the oracle
        does after an image slot's last step while learning; keys use the step counter, which must
        already count that step."""
        self._check(self.lib.ls_normalize(ctypes.byref(self.struct), PATHWAY_NAMES.index(name)),
                    f"normalization of {name}")

    def decay(self, name: str, k_steps: int) -> None:
        """Settle a sleep decay block of ``k_steps`` steps on plastic pathway ``name`` (``ls_decay``);
        keys use the step counter, which must already count the block's last step."""
        self._check(self.lib.ls_decay(ctypes.byref(self.struct), PATHWAY_NAMES.index(name), int(k_steps)),
                    f"decay of {name}")
