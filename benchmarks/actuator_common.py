"""Helpers shared by the actuator benchmarks: synthetic logs from a closed loop, validation RMSE."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import mujoco
import numpy as np

from sysid.closedloop import ClosedLoop
from sysid.data import Log
from sysid.loss import ShootingLoss
from sysid.params import ParamSet
from sysid.sim import Simulator
from sysid.track import bind_log


def simulate_log(model: mujoco.MjModel, loop: ClosedLoop | None, command: np.ndarray, *, every: int, source: str,
                 joint: str, actuator: str, pos_noise: float = 0.0, vel_noise: float = 0.0, seed: int = 0) -> Log:
    """A log of `model` (with `loop` in it) under `command` (N,) issued every model step, keeping
    every `every`-th row (the command is held between kept rows, as the log convention says)."""
    n = len(command)
    kept = np.arange(0, n, every)
    held = command[kept][np.searchsorted(kept, np.arange(n), side="right") - 1]
    sim = Simulator(model, ParamSet([], model=model), nthread=1, loop=loop)
    if loop is not None:
        loop.bind(sim.params)
    initial = sim.initial_states(np.zeros((1, model.nq)), np.zeros((1, model.nv)))
    states, ok = sim.rollout([copy.copy(model)], initial, held[None, :-1, None])
    sim.close()
    assert ok.all(), "the true system diverged"
    q = np.concatenate([[0.0], states[0, :, 1]])[kept]
    qd = np.concatenate([[0.0], states[0, :, 1 + model.nq]])[kept]
    rng = np.random.default_rng(seed + 12345)
    q, qd = q + rng.normal(0, pos_noise, q.shape), qd + rng.normal(0, vel_noise, qd.shape)
    time = kept * model.opt.timestep
    return Log(source, time, {joint: q}, {joint: qd}, {}, {actuator: command[kept]})


def rollout_rmse(model: mujoco.MjModel, params: ParamSet, values: np.ndarray, logs: Sequence[Log], *, horizon: float | None,
                 loop: ClosedLoop | None = None, signal: str | None = None, nthread: int | None = None) -> float:
    """Pooled RMSE of `signal` (default: the first position) over `logs`, simulated in windows of
    `horizon` s started from the filtered logged states (None: each log open loop, from its start)."""
    traces = rollout_traces(model, params, values, logs, horizon=horizon, loop=loop, signal=signal, nthread=nthread)
    return float(np.sqrt(np.nanmean(np.concatenate([simulated - logged for _, logged, simulated in traces]) ** 2)))


def rollout_traces(model: mujoco.MjModel, params: ParamSet, values: np.ndarray, logs: Sequence[Log], *, horizon: float | None,
                   loop: ClosedLoop | None = None, signal: str | None = None,
                   nthread: int | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per log: (m,) time since the log's start [s], (m,) logged and (m,) simulated `signal` (default:
    the first position), simulated as in `rollout_rmse`; NaN where a window diverged."""
    sim = Simulator(model, params, nthread=nthread, loop=loop)
    if loop is not None:
        loop.bind(params)
    traces = []
    for log in logs:
        track = bind_log(log, model)
        window = log.duration * (1 + 1e-9) + model.opt.timestep if horizon is None else horizon
        loss = ShootingLoss(sim, [track], window)
        simulated, ok = loss.simulate(np.asarray(values, float)[None])
        name = signal or track.signals[0]
        w = loss.windows
        mask = np.array([track.signals[s] == name for s in w.entry_signal])
        traces.append((track.time[w.entry_row[mask]] - track.time[0], w.entry_target[mask],
                       np.where(ok[0, w.entry_window[mask]], simulated[0][mask], np.nan)))
    sim.close()
    return traces
