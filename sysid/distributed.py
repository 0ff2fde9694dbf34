"""Scale-out on Ray (`--ray auto|local|ADDRESS`): independent fits as Ray tasks, large candidate
batches across Ray actors.

Independent fits (the starts of `--starts`, the folds of `--cv`, the candidates of `--structures`,
the robots of `sysid fleet`) run as Ray tasks; a large candidate batch (a CMA-ES generation) is
split across Ray actors that each hold a `Simulator` built once, receive the candidates as arrays
and return their losses, gathered in order. Each start's seed is `seed + k` whatever runs it, and
every candidate's loss is computed as the local fit computes it, so a fit on Ray gives the local
fit's numbers however many workers there are.

Faults: tasks are retried (`max_retries`) and actors restarted (`max_restarts`, their calls
retried) when a worker dies; the work is deterministic, so a retry gives the same numbers. Ctrl-C
of the driver cancels the running fits, which return their best result so far.

This module is imported only when `--ray` is given; it imports Ray inside its functions.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sysid.errors import UserError
from sysid.extras import require

if TYPE_CHECKING:
    import mujoco

    from sysid.closedloop import ClosedLoop
    from sysid.data import Log
    from sysid.fit import FitConfig, FitResult
    from sysid.objective import Objective
    from sysid.params import ParamSet
    from sysid.track import Track

CONNECT_TIMEOUT_S = 5.0  # s, to open a TCP connection to a cluster's address before Ray tries
RETRIES = 3  # times a task is retried, or an actor restarted, after its worker died
MIN_REMOTE_BATCH = 16  # candidates: a smaller batch is scored in the driver (sending costs more than it saves)
INTERRUPTED_WAIT_S = 30.0  # s, how long Ctrl-C waits for cancelled fits to return their best so far
RAY_TARGETS = ("auto", "local")


@contextlib.contextmanager
def ray_session(target: str | None) -> Iterator[RayBackend | None]:
    """A `RayBackend` connected to `target` for the block (None: no Ray, nothing imported).

    Args:
      target: "local" (a Ray instance on this machine, started for this command), "auto" (the
        cluster `ray start` runs on this machine, or RAY_ADDRESS; else a local one) or the
        address HOST:PORT of a cluster's head node (`ray start --head` prints it).
    """
    if target is None:
        yield None
        return
    backend = RayBackend.connect(target)
    try:
        yield backend
    finally:
        backend.close()


class RayBackend:
    """Runs a fit's independent pieces on a Ray cluster (see the module docstring).

    Attributes:
      workers: CPUs of the cluster: the actors a candidate batch is split across.
    """

    def __init__(self, *, owned: bool):
        import ray

        self._owned = owned  # this command started (or connected) Ray and shuts it down
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._actors: list = []  # PopulationWorker actors, started at the first large batch, kept for later fits

    @classmethod
    def connect(cls, target: str) -> RayBackend:
        """Connect to (or start) a Ray cluster; an unreachable address is a one-line UserError."""
        require("ray", extra="ray", feature="--ray")
        import ray

        options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        target = target.strip()
        main_thread = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
        try:
            if target not in RAY_TARGETS:
                _check_reachable(target)  # also when connected already: the address given must work
            if ray.is_initialized():  # a caller (a test, a notebook) connected already
                return cls(owned=False)
            if target == "local":
                ray.init(**options)
            elif target == "auto":
                try:
                    ray.init(address="auto", **options)
                except ConnectionError:  # no cluster running here: a local one
                    ray.init(**options)
            else:
                ray.init(address=target, **options)
        except (ConnectionError, TimeoutError, ValueError, RuntimeError) as error:
            text = " ".join(str(error).split())[:200]
            raise UserError(f"--ray {target}: cannot connect to the Ray cluster ({text})") from None
        finally:
            if main_thread and sigterm is not None:  # ray.init sets its own; SIGTERM stops a fit as Ctrl-C does
                signal.signal(signal.SIGTERM, sigterm)
        return cls(owned=True)

    def close(self) -> None:
        import ray

        self._end_actors()
        if self._owned and ray.is_initialized():
            ray.shutdown()

    def actors(self) -> list:
        """One `PopulationWorker` actor per CPU of the cluster, started on first use (a process each,
        which imports sysid: seconds), restarted by Ray when its process dies."""
        import ray

        if not self._actors:
            worker = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(PopulationWorker)
            self._actors = [worker.remote() for _ in range(self.workers)]
        return self._actors

    def _end_actors(self) -> None:
        """End the actors: each holds a CPU that tasks need (else tasks would wait for them forever)."""
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list:
        """[function(item) for item in items], each call a Ray task (retried when its worker dies), in order."""
        import ray

        self._end_actors()
        call = ray.remote(max_retries=RETRIES, num_cpus=1)(_call)
        shared = ray.put(function)
        refs = [call.remote(shared, item) for item in items]
        try:
            return _get(refs)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise

    def fit_starts(self, model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet, configs: Sequence[FitConfig], *,
                   loop: ClosedLoop | None = None) -> list[FitResult | None]:
        """`sysid.fit.fit_start` of every config (one per start, seeds set), each a Ray task, results in
        order. Ctrl-C cancels them: the starts that ran return their best so far, the others None."""
        import ray

        self._end_actors()
        start = ray.remote(max_retries=RETRIES, num_cpus=1)(_fit_start)
        shared = [ray.put(x) for x in (model, list(logs), params, loop)]
        refs = [start.remote(*shared, config) for config in configs]
        try:
            return _get(refs)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)  # a running start gets KeyboardInterrupt and returns its best so far
            results = []
            for ref in refs:
                try:
                    results.append(ray.get(ref, timeout=INTERRUPTED_WAIT_S))
                except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
                    results.append(None)
            if all(r is None for r in results):
                raise
            return results

    def population(self, model: mujoco.MjModel, tracks: Sequence[Track], params: ParamSet,
                   loop: ClosedLoop | None = None) -> Population:
        """A `Population` scorer for one fit (the actors start at its first large batch)."""
        return Population(self, model, tracks, params, loop)


def _get(refs: list) -> list:
    """ray.get of the refs in order; a user error raised in a task is raised here as itself (one line)."""
    import ray

    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, UserError):
            raise UserError(str(error.cause)) from None
        raise


def _call(function: Callable[[Any], Any], item: Any) -> Any:
    return function(item)


def _fit_start(model, logs, params, loop, config):
    """One start on a worker: single-threaded rollouts (the task holds one CPU); the numbers do not
    depend on the thread count."""
    import dataclasses

    from sysid.fit import fit_start

    return fit_start(model, logs, params, dataclasses.replace(config, nthread=1), loop=loop)


class Population:
    """`Objective.batch`: scores a large batch of candidates on Ray actors, split in order.

    Each actor builds a `Simulator` of the fit's model once (at its first batch of this fit) and
    the windows of each stage; it gets the candidates (B, dim) as an array and returns their (B,)
    losses, computed by an `Objective` like the driver's, so every loss is the number the driver
    would compute. The fit's inputs travel once, as an object in Ray's store that the actors read
    (again after a restart).
    """

    def __init__(self, backend: RayBackend, model: mujoco.MjModel, tracks: Sequence[Track], params: ParamSet,
                 loop: ClosedLoop | None):
        self._backend = backend
        self._inputs = (model, list(tracks), params, loop)
        self._ref = None

    def __call__(self, objective: Objective, x: np.ndarray) -> np.ndarray | None:
        """(B, dim) candidates -> (B,) losses, or None for a batch too small to send."""
        import ray

        x = np.atleast_2d(x)
        if len(x) < MIN_REMOTE_BATCH:
            return None
        if self._ref is None:
            self._ref = ray.put(self._inputs)
        actors = self._backend.actors()
        shooting = objective.shooting
        stage = (shooting.horizon, shooting.max_windows, shooting.robust, objective.refine_states)
        parts = [p for p in np.array_split(x, len(actors)) if len(p)]
        # The inputs' ref inside a list: Ray passes it unresolved, an actor reads it when it is new to it.
        refs = [actor.loss.remote([self._ref], stage, objective.priors, part) for actor, part in zip(actors, parts)]
        answers = ray.get(refs)  # Ctrl-C here reaches the optimizer, which keeps its best so far
        shooting.sim.steps += sum(steps for _, steps in answers)
        return np.concatenate([losses for losses, _ in answers])

    def close(self) -> None:
        self._ref = None  # the actors stay for the next fit; the backend ends them


class PopulationWorker:
    """A Ray actor's state: the `Simulator` of the fit it serves and the windows of every stage it has scored."""

    def __init__(self):
        self.fit_key: str | None = None
        self.sim = None
        self.tracks: list[Track] = []
        self.stages: dict[tuple, Any] = {}

    def _serve(self, inputs) -> None:
        """Build the Simulator of the fit whose inputs (model, tracks, params, loop) are in Ray's store at `inputs`."""
        import ray

        from sysid.sim import Simulator

        model, tracks, params, loop = ray.get(inputs)
        if loop is not None:
            loop.bind(params)
        if self.sim is not None:
            self.sim.close()
        self.sim = Simulator(model, params, nthread=1, loop=loop)
        self.tracks, self.stages, self.fit_key = tracks, {}, inputs.hex()

    def loss(self, inputs: list, stage: tuple, priors, x: np.ndarray) -> tuple[np.ndarray, int]:
        """(B, dim) candidates of a stage (horizon s, max_windows, robust loss, refine_states) of the fit
        whose inputs are at `inputs[0]` -> (B,) losses and the model steps simulated."""
        from sysid.loss import ShootingLoss
        from sysid.objective import Objective
        from sysid.sim import single_threaded_blas

        if inputs[0].hex() != self.fit_key:
            self._serve(inputs[0])
        horizon, max_windows, robust, refine_states = stage
        if stage not in self.stages:
            self.stages[stage] = ShootingLoss(self.sim, self.tracks, horizon, max_windows=max_windows, robust=robust)
        objective = Objective(self.stages[stage], refine_states=refine_states, priors=priors)
        before = self.sim.steps
        with single_threaded_blas():
            losses = objective.loss(x)
        return losses, self.sim.steps - before


def _check_reachable(address: str) -> None:
    """A UserError unless a TCP connection to HOST:PORT (optionally ray://HOST:PORT) opens within
    CONNECT_TIMEOUT_S: Ray itself would retry for a minute before failing."""
    text = address.removeprefix("ray://")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray {address}: expected auto, local or a cluster address HOST:PORT (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        reason = f"no answer in {CONNECT_TIMEOUT_S:g} s" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise UserError(f"--ray {address}: cannot reach the Ray cluster ({reason}); "
                        f"start it with `ray start --head` there, or check the address and firewall") from None
