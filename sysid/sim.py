"""Batched simulation on `mujoco.rollout`: many candidate models x many windows in one call.

A `Simulator` owns a thread pool (one MjData per thread) and a pool of MjModel copies, one
per candidate, into which a `ParamSet` writes candidate values. Controls follow the log
timing convention of DESIGN.md: a command issued at time[i] is held until time[i+1]; with an
actuation delay d the plant sees at time t the command issued at t - d. The control applied
over a model step is the average of that delayed, held command over the step, which makes
the rollout a continuous function of a fractional delay (not whole steps). calibrated.xml
carries the fitted delay as MuJoCo's native actuator delay, which reproduces this convention
exactly for delays of at least one timestep (`sysid.native`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
import time as _time
from typing import TYPE_CHECKING

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout
from threadpoolctl import ThreadpoolController

from sysid.params import ParamSet

if TYPE_CHECKING:
    from sysid.closedloop import ClosedLoop

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


def default_threads() -> int:
    """Threads for rollouts: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def single_threaded_blas():
    """Context manager: BLAS (numpy's matrix products) on one thread. The rollout threads already
    use every core; threaded BLAS on top of them makes small products ten times slower (the
    least-squares SVDs, networks in the loop)."""
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The loaded thread pools, found once (the search walks every loaded library)."""
    return ThreadpoolController()


def control_integral(time: np.ndarray, command: np.ndarray) -> np.ndarray:
    """(N,) s, (N, nu) held commands -> (N, nu) their integral from time[0] to each time[i]."""
    return np.concatenate([np.zeros((1, command.shape[1])), np.cumsum(command[:-1] * np.diff(time)[:, None], axis=0)])


def held_controls(time: np.ndarray, command: np.ndarray, starts: np.ndarray, nstep: int, dt: float, delay: float, *,
                  integral: np.ndarray | None = None) -> np.ndarray:
    """Controls over model steps from a zero-order-held command log, with a fractional delay.

    Args:
      time: (N,) s, log timestamps, increasing.
      command: (N, nu) commands issued at `time`.
      starts: (W,) s, start time of each window.
      nstep: model steps per window.
      dt: s, model timestep.
      delay: s, actuation delay (>= 0).
      integral: (N, nu) `control_integral(time, command)`, when the caller keeps it.
    Returns:
      (W, nstep, nu): the mean over [t_k, t_k + dt) of command(t - delay), t_k = start + k dt.
      Before the first row the first command holds; after the last row the last one does.
    """
    # Piecewise-linear integral of the held command at the log's knots.
    integral = control_integral(time, command) if integral is None else integral
    edges = starts[:, None] + np.arange(nstep + 1)[None, :] * dt - delay  # (W, nstep + 1)
    flat = edges.ravel()
    values = np.empty((flat.size, command.shape[1]))
    for a in range(command.shape[1]):
        values[:, a] = np.interp(flat, time, integral[:, a])
    before, after = flat < time[0], flat > time[-1]
    values[before] += (flat[before] - time[0])[:, None] * command[0]
    values[after] += (flat[after] - time[-1])[:, None] * command[-1]
    values = values.reshape(*edges.shape, -1)
    return np.diff(values, axis=1) / dt


class Simulator:
    """Batched rollouts of candidate parameter values on one model.

    Args:
      model: the compiled input model (never modified).
      params: the parameters candidates set.
      nthread: rollout threads (default: all usable cores).
      loop: actuator models or residual dynamics computed between model steps (`sysid.closedloop`).
    """

    def __init__(self, model: mujoco.MjModel, params: ParamSet, *, nthread: int | None = None, loop: "ClosedLoop | None" = None):
        self.model = model
        self.params = params
        self.loop = loop  # actuator models / residual dynamics in the loop (sysid.closedloop), or None
        self.nthread = default_threads() if nthread is None else nthread
        self._pool = mj_rollout.Rollout(nthread=self.nthread if self.nthread > 1 else 0)
        self._datas = [mujoco.MjData(model) for _ in range(max(1, self.nthread))]
        self._scratch = mujoco.MjData(model)
        self._copies: list[mujoco.MjModel] = []
        self.nstate = mujoco.mj_stateSize(model, STATE_SPEC)
        self._template = np.empty(self.nstate)
        mujoco.mj_getState(model, self._scratch, self._template, STATE_SPEC)
        self.qpos_slice = slice(1, 1 + model.nq)
        self.qvel_slice = slice(1 + model.nq, 1 + model.nq + model.nv)
        self.steps = 0  # simulation steps run so far
        self.rollout_seconds = 0.0  # wall time spent inside mujoco.rollout (closed-loop lanes: lane 0's)
        self.warnings = 0  # MuJoCo warnings raised by diverging candidates
        self.calls: list[tuple[int, int]] = []  # (nbatch, nstep) of every rollout call, for benchmarks
        # Output buffers reused across calls of the same shape: a fresh array per call costs page
        # faults inside the rollout, about 10% of its time on small models.
        self._buffers: dict[tuple[int, ...], np.ndarray] = {}
        self._lanes: list[tuple] = []  # (single-threaded pool, MjData, sensor buffers) per closed-loop lane
        self._lock = threading.Lock()
        self.sensors = np.empty((0, 0, model.nsensordata))  # (B, nstep, nsensordata) of the last raw_rollout (reused buffer)

    def close(self) -> None:
        self._pool.close()
        for pool, _, _ in self._lanes:
            pool.close()

    def initial_states(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """(B, nq), (B, nv) -> (B, nstate) full physics states at time 0, other entries from qpos0."""
        states = np.repeat(self._template[None], len(qpos), axis=0)
        states[:, 0] = 0.0
        states[:, self.qpos_slice] = qpos
        states[:, self.qvel_slice] = qvel
        return states

    def candidate_models(self, values: np.ndarray) -> list[mujoco.MjModel]:
        """(C, n) parameter values -> C model copies with those values written in."""
        while len(self._copies) < len(values):
            self._copies.append(copy.copy(self.model))
        for model, row in zip(self._copies, values):
            self.params.write(model, row, self._scratch)
        return self._copies[: len(values)]

    def rollout(self, models: list[mujoco.MjModel], initial: np.ndarray, control: np.ndarray, *,
                values: np.ndarray | None = None, sources: list[str] | None = None,
                reuse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Roll out B trajectories.

        Args:
          models: B models (may repeat the same object).
          initial: (B, nstate) initial full physics states.
          control: (B, nstep, nu) controls.
          values: (B, n) parameter values of each trajectory's candidate; read by the closed loop only.
          sources: (B,) the log each trajectory replays; read by the closed loop only (per-log settings).
          reuse: write the states into a buffer this simulator reuses; the returned array is then
            only valid until the next call.
        Returns:
          states: (B, nstep, nstate), the state after each step (the initial state is not repeated).
          ok: (B,) False where the simulation diverged (NaN, or MuJoCo reset it on instability).
        """
        nbatch, nstep = control.shape[:2]
        if self.loop is not None:
            states = self.loop.rollout(self, models, initial, control, values=values, sources=sources)
        else:
            states = self._buffer("states", nbatch, nstep, self.nstate) if reuse else np.empty((nbatch, nstep, self.nstate))
            self.raw_rollout(models, initial, control, states)
        self.calls.append((nbatch, nstep))
        expected_end = initial[:, 0] + nstep * self.model.opt.timestep
        ok = np.isfinite(states[:, -1]).all(axis=1) & (np.abs(states[:, -1, 0] - expected_end) < 0.5 * self.model.opt.timestep)
        return states, ok

    def raw_rollout(self, models: list[mujoco.MjModel], initial: np.ndarray, control: np.ndarray, states: np.ndarray,
                    control_spec: int = int(mujoco.mjtState.mjSTATE_CTRL)) -> None:
        """One `mujoco.rollout` call on the thread pool, counting steps, time and MuJoCo warnings.

        Args:
          models, initial: as in `rollout`.
          control: (B, nstep, ncontrol) control vectors laid out as `control_spec` (mjtState bits).
          states: (B, nstep, nstate) output, written in place.
        """
        nbatch, nstep = control.shape[:2]
        self.sensors = sensors = self._buffer("sensors", nbatch, nstep, self.model.nsensordata)
        with self.counting_warnings():
            self.rollout_seconds += _timed_call(self._pool, self._datas, models, initial, control, states, sensors, control_spec)
        self.steps += nbatch * nstep

    def lane_rollout(self, lane: int, models: list[mujoco.MjModel], initial: np.ndarray, control: np.ndarray,
                     states: np.ndarray, control_spec: int) -> None:
        """`raw_rollout` on the calling thread with lane `lane`'s own MjData, for the closed loop's
        lanes (`sysid.closedloop`), which run in parallel Python threads: call it inside
        `counting_warnings` (MuJoCo's warning callback is global)."""
        nbatch, nstep = control.shape[:2]
        with self._lock:
            while len(self._lanes) <= lane:
                self._lanes.append((mj_rollout.Rollout(nthread=0), mujoco.MjData(self.model), {}))
            pool, data, sensors = self._lanes[lane]
        if (nbatch, nstep) not in sensors:
            if len(sensors) > 1:  # a loop uses two shapes: the control period and a shorter last step
                sensors.clear()
            sensors[nbatch, nstep] = np.empty((nbatch, nstep, self.model.nsensordata))
        seconds = _timed_call(pool, [data], models, initial, control, states, sensors[nbatch, nstep], control_spec)
        with self._lock:
            self.steps += nbatch * nstep
            if lane == 0:  # lanes run side by side: lane 0's time stands for the wall time
                self.rollout_seconds += seconds

    @contextlib.contextmanager
    def counting_warnings(self):
        """MuJoCo warnings raised inside this block count in `self.warnings` instead of printing."""
        previous = mujoco.get_mju_user_warning()
        mujoco.set_mju_user_warning(self._count_warning)
        try:
            yield
        finally:
            mujoco.set_mju_user_warning(previous)

    def _buffer(self, name: str, *shape: int) -> np.ndarray:
        """A reused float64 array of this shape; the 4 shapes of each name used last are kept."""
        key = (name, *shape)
        buffer = self._buffers.pop(key, None)
        if buffer is None:
            buffer = np.empty(shape)
            mine = [k for k in self._buffers if k[0] == name]
            for old in mine[: max(0, len(mine) - 3)]:
                del self._buffers[old]
        self._buffers[key] = buffer  # re-inserted last: dict order is least recently used first
        return buffer

    def _count_warning(self, message: str) -> None:
        with self._lock:  # closed-loop lanes raise warnings from several threads
            self.warnings += 1


def _timed_call(pool: mj_rollout.Rollout, datas: list[mujoco.MjData], models: list[mujoco.MjModel], initial: np.ndarray,
                control: np.ndarray, states: np.ndarray, sensors: np.ndarray, control_spec: int) -> float:
    """One unchecked `mujoco.rollout` call writing `states` and `sensors`; returns its wall time in s."""
    start = _time.perf_counter()
    pool.rollout(models, datas, np.ascontiguousarray(initial), np.ascontiguousarray(control, dtype=float),
                 control_spec=control_spec, state=states, sensordata=sensors, nstep=control.shape[1], skip_checks=True)
    return _time.perf_counter() - start
