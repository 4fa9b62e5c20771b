"""Where a sweep's tasks run: in this process, in order (``local``), or on a Ray cluster (``ray``).

An executor runs one task function over a list of task descriptions and yields an
:class:`Outcome` per task as it finishes (the value, or the error of a task that failed
for good). It does nothing else: which tasks to run, what their results mean and every file
of the sweep folder are the caller's (:func:`lava_sleep.sweep.run_sweep`), so both executors
share one code path.

* :class:`LocalExecutor`: ``fn(task)`` in this process, one task after the other. A task
  that raises is reported as failed and the next one runs; ``KeyboardInterrupt`` stops it.
* :class:`RayExecutor`: every task is a ``ray.remote`` call with ``num_cpus`` /
  ``num_gpus`` per task and ``max_retries``: a task whose worker dies (killed, out of
  memory, lost node) is run again up to ``max_retries`` times; an exception raised by the
  task itself is not retried (``retry_exceptions=False``: it would fail the same way again).
  It connects to ``address`` (or ``$RAY_ADDRESS``), else starts a new local Ray (all cores)
  that it shuts down in :meth:`close`; a Ray already initialised in this process is used as it
  is and left running. Environment variables ``LAVA_SLEEP_*`` of the driver are passed on to the tasks.

Ray is an optional dependency (``pip install 'lava-sleep[ray]'``): :func:`make_executor`
raises a one-line :class:`ExecutorError` without it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from lava_sleep.experiment.config import RunError

EXECUTORS = ("local", "ray")
RAY_INSTALL = "pip install 'lava-sleep[ray]'"
#: Prefix of the driver's environment variables that reach the Ray tasks.
ENV_PREFIX = "LAVA_SLEEP_"


class ExecutorError(RunError):
    """An executor cannot be used as asked (Ray missing, bad address or resources)."""


@dataclass
class Outcome:
    """What became of task ``index``: ``value`` (done) or ``error`` (failed for good,
    "Type: message"; ``details`` holds the traceback or Ray's report when there is one)."""

    index: int
    value: object = None
    error: str | None = None
    details: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _error_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0]}" if msg else type(exc).__name__


class LocalExecutor:
    """Tasks in this process, in order (the default; no dependencies)."""

    name = "local"
    #: Tasks run in the driver process: they may show their own progress bars.
    in_process = True

    def run(self, fn: Callable, tasks: Sequence) -> Iterator[Outcome]:
        for i, task in enumerate(tasks):
            try:
                value = fn(task)
            except Exception as exc:  # noqa: BLE001 - recorded as failed; KeyboardInterrupt stops
                yield Outcome(i, error=_error_line(exc), details=traceback.format_exc())
            else:
                yield Outcome(i, value=value)

    def start(self) -> None:
        pass

    def describe(self) -> str:
        return "local (this process)"

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def require_ray():
    """The ray module, or a one-line ExecutorError saying what to install."""
    if not ray_available():
        raise ExecutorError(f"--executor ray needs Ray, which is not installed here: {RAY_INSTALL}")
    import ray

    return ray


class RayExecutor:
    """Tasks as Ray remote calls (local Ray or a cluster; see docs/distributed.md)."""

    name = "ray"
    in_process = False

    def __init__(self, address: str | None = None, cpus_per_task: float = 1, gpus_per_task: float = 0,
                 max_retries: int = 3, init_kwargs: dict | None = None):
        self.ray = require_ray()
        if cpus_per_task < 0 or gpus_per_task < 0:
            raise ExecutorError(f"--cpus-per-task and --gpus-per-task must be >= 0, got "
                                f"{cpus_per_task} and {gpus_per_task}")
        if max_retries < 0:
            raise ExecutorError(f"--max-retries must be >= 0, got {max_retries}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        if self.address:
            _check_reachable(self.address)  # now, before the sweep writes or loads anything
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.max_retries = int(max_retries)
        self.init_kwargs = dict(init_kwargs or {})
        self._owned = False

    def start(self) -> None:
        """Connect to the cluster (or start a local Ray) unless this process already has one."""
        ray = self.ray
        if ray.is_initialized():
            return
        try:
            if self.address:
                ray.init(address=self.address, **self.init_kwargs)
            else:
                # "local": a new Ray of this process, even where another one runs on the machine
                ray.init(**{"address": "local", "include_dashboard": False, "logging_level": logging.WARNING,
                            **self.init_kwargs})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            raise ExecutorError(f"cannot start or reach {where}: {_error_line(exc)}") from None
        self._owned = True
        self._check_fits()

    def _check_fits(self) -> None:
        """A task that no node can hold waits forever: an error on the local Ray this executor
        started, a warning on a cluster (an autoscaler may add such a node)."""
        need = {"CPU": self.cpus_per_task, "GPU": self.gpus_per_task}
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        if any(all(r.get(k, 0) >= v for k, v in need.items() if v > 0) for r in nodes):
            return
        have = "; ".join(f"{r.get('CPU', 0):g} CPU, {r.get('GPU', 0):g} GPU" for r in nodes) or "none"
        msg = (f"no Ray node has {self.cpus_per_task:g} CPU and {self.gpus_per_task:g} GPU for a task "
               f"(nodes: {have})")
        if not self.address:
            self.close()
            raise ExecutorError(f"{msg}; lower --cpus-per-task / --gpus-per-task")
        sys.stderr.write(f"lava-sleep: warning: {msg}; the tasks wait until such a node joins\n")

    def describe(self) -> str:
        where = self.address or "local Ray"
        return (f"ray ({where}; {self.cpus_per_task:g} CPU, {self.gpus_per_task:g} GPU per task, "
                f"max {self.max_retries} retries)")

    def run(self, fn: Callable, tasks: Sequence) -> Iterator[Outcome]:
        ray = self.ray
        self.start()
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        options = {"num_cpus": self.cpus_per_task, "num_gpus": self.gpus_per_task,
                   "max_retries": self.max_retries, "retry_exceptions": False}
        if env:
            options["runtime_env"] = {"env_vars": env}
        remote = ray.remote(fn).options(**options)
        pending = {remote.remote(task): i for i, task in enumerate(tasks)}
        try:
            while pending:
                refs = list(pending)
                ready, _ = ray.wait(refs, num_returns=1)  # block for one, then take all that are ready
                more, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                for ref in dict.fromkeys([*ready, *more]):
                    i = pending.pop(ref)
                    yield self._outcome(i, ref)
        finally:
            for ref in pending:  # interrupted: do not leave tasks running for nobody
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort
                    pass

    def _outcome(self, i: int, ref) -> Outcome:
        ray = self.ray
        try:
            return Outcome(i, value=ray.get(ref))
        except ray.exceptions.RayTaskError as exc:  # the task raised: not retried
            cause = getattr(exc, "cause", None)
            line = _error_line(cause) if isinstance(cause, BaseException) else _error_line(exc)
            return Outcome(i, error=line, details=str(exc))
        except ray.exceptions.RayError as exc:  # worker died max_retries + 1 times, node lost, ...
            return Outcome(i, error=f"{_error_line(exc)} (after {self.max_retries} retries)",
                           details=str(exc))

    def close(self) -> None:
        if self._owned and self.ray.is_initialized():
            self.ray.shutdown()
        self._owned = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """One-line ExecutorError when a HOST:PORT address takes no connections (ray.init would retry
    for minutes); other forms ("auto", "ray://...") are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it "
                            "with `ray start --head` or check --address / RAY_ADDRESS") from None


def make_executor(name: str = "local", address: str | None = None, cpus_per_task: float = 1,
                  gpus_per_task: float = 0, max_retries: int = 3, init_kwargs: dict | None = None):
    """An executor by name (``local`` or ``ray``); one-line ExecutorError on bad choices."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, cpus_per_task, gpus_per_task, max_retries, init_kwargs)
    raise ExecutorError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
