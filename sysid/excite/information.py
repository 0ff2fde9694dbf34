"""Fisher information of a planned experiment about the fitted parameters, as `sysid fit` sees it.

The plan's predicted measurements become noise-free `Track`s; they are cut into the fit's
windows (`sysid.loss.ShootingLoss`), and the sensitivities of every window's simulated
measurements to the parameters (in the unit box of `ParamSet`) and to the window's start
state come from forward differences, all in ONE batched rollout: candidate 0 is the current
estimate, candidates 1..n move one parameter, candidates n+1..n+nx move one start-state entry
of every window at once (a window only depends on its own start). Residuals are divided by the
measurement noise, and the start states are marginalised out window by window as the fit
refines them, so (J^T J)^-1 predicts the covariance of the fitted parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import mujoco
import numpy as np

from sysid.excite.actuation import Actuation
from sysid.loss import ShootingLoss
from sysid.params import ParamSet
from sysid.sim import Simulator
from sysid.track import Track

Criterion = Literal["d", "marginal", "cond"]
CRITERIA: tuple[str, ...] = ("d", "marginal", "cond")
FD_STEP_U = 1e-4  # forward-difference step in the unit box
FD_STEP_STATE = 1e-2  # forward-difference step of a start state, in noise standard deviations
BAD = 1e6  # criterion of a singular or diverged design


def predicted_track(model: mujoco.MjModel, act: Actuation, time: np.ndarray, ctrl: np.ndarray, qpos: np.ndarray,
                    qvel: np.ndarray, *, pos_noise: float, vel_noise: float, source: str = "plan") -> Track:
    """A noise-free `Track` of a plan: rows at `time` (N,) s with commands (N, nu) and the predicted
    full qpos (N, nq) and qvel (N, nv); every actuated joint's position and velocity is measured
    with noise standard deviations `pos_noise` (rad or m) and `vel_noise` (rad/s or m/s)."""
    signals, units, state_index, refine_index, sigma = [], [], [], [], []
    for name, qadr, dadr in zip(act.joints, act.qadr, act.dadr):
        unit = "rad" if model.jnt_type[model.joint(name).id] == mujoco.mjtJoint.mjJNT_HINGE else "m"
        signals += [f"{name}.pos", f"{name}.vel"]
        units += [unit, f"{unit}/s"]
        state_index += [1 + qadr, 1 + model.nq + dadr]
        refine_index += [1 + qadr, 1 + model.nq + dadr]
        sigma += [pos_noise, vel_noise]
    state_index = np.asarray(state_index)
    values = np.concatenate([qpos, qvel], axis=1)[:, state_index - 1]
    return Track(source=source, time=time, signals=tuple(signals), units=tuple(units), values=values,
                 sigma=np.asarray(sigma, float), state_index=state_index, ctrl=ctrl, qpos=qpos, qvel=qvel,
                 refine_index=np.asarray(refine_index), refine_scale=np.asarray(sigma, float))


def fisher(sim: Simulator, values: np.ndarray, tracks: list[Track], horizon: float, *, windows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fisher information of each track about the parameters, in the unit box.

    Args:
      sim: a simulator of the model and the parameter set.
      values: (n,) the current estimate, in parameter units.
      tracks: P predicted tracks of equal timing (see `predicted_track`).
      horizon: s, the fit's window length (its last stage).
      windows: use only this many of each track's windows, the same evenly spread ones for
        every track (a cheaper estimate for the search).
    Returns:
      (P, n, n) information J^T J with the window start states marginalised out, and
      (P,) False where a window diverged.
    """
    params = sim.params
    owner = np.arange(len(tracks))
    if windows is not None:
        tracks, owner = _some_windows(tracks, horizon, windows)
    loss = ShootingLoss(sim, tracks, horizon)
    n, nx, nwin = len(params), loss.nx, loss.n_windows
    u0 = params.to_unit(values)
    steps = np.concatenate([np.where(u0 + FD_STEP_U <= 1.0, FD_STEP_U, -FD_STEP_U), np.full(nx, FD_STEP_STATE)])
    u = np.repeat(u0[None], 1 + n + nx, axis=0)
    u[1 + np.arange(n), np.arange(n)] += steps[:n]
    offsets = np.zeros((1 + n + nx, nwin, nx))
    for k in range(nx):
        offsets[1 + n + k, :, k] = FD_STEP_STATE
    candidate_values = params.from_unit(u)
    candidate_values[0] = values
    simulated, ok = loss.simulate(candidate_values, offsets)
    win = loss.windows
    sens = (simulated[1:] - simulated[0]) / steps[:, None] / win.entry_sigma  # (n + nx, m)
    sens[:, ~np.isfinite(sens).all(axis=0)] = 0.0
    bounds = np.searchsorted(win.entry_window, np.arange(nwin + 1))
    nplan = owner.max() + 1
    info = np.zeros((nplan, n, n))
    for w in range(nwin):
        a, b = sens[:n, bounds[w]:bounds[w + 1]], sens[n:, bounds[w]:bounds[w + 1]]
        ab = a @ b.T
        info[owner[win.track[w]]] += a @ a.T - ab @ np.linalg.pinv(b @ b.T) @ ab.T
    good = np.ones(nplan, bool)
    good[owner[win.track[~ok.all(axis=0)]]] = False
    return info, good


def _some_windows(tracks: list[Track], horizon: float, count: int) -> tuple[list[Track], np.ndarray]:
    """Cut `count` evenly spread fit windows out of every track, as short tracks of one window
    each; returns them and (P * count,) the track each came from."""
    step = tracks[0].time[1] - tracks[0].time[0]
    per = max(1, int(round(horizon / step)))
    nrow = len(tracks[0].time)
    total = int(np.ceil((nrow - 1) / per))
    starts = np.unique(np.round(np.linspace(0, total - 1, min(count, total))).astype(int)) * per
    pieces, owner = [], []
    for i, track in enumerate(tracks):
        for r0 in starts:
            rows = slice(r0, min(r0 + per, nrow - 1) + 1)
            pieces.append(dataclasses.replace(
                track, time=track.time[rows], values=track.values[rows], ctrl=track.ctrl[rows], qpos=track.qpos[rows], qvel=track.qvel[rows]))
            owner.append(i)
    return pieces, np.array(owner)


def criterion(info: np.ndarray, kind: Criterion) -> np.ndarray:
    """(..., n, n) information -> (...,) a score to minimise.

    "d": -log det / n (minus the mean log information per parameter).
    "marginal": the mean log of the marginal variances (the diagonal of the inverse information),
      i.e. twice the log of the geometric mean of the predicted standard errors; rescaling a
      parameter only adds a constant, so in the unit box of log-scaled parameters it ranks plans
      like the mean log relative standard error does.
    "cond": the log of the condition number.
    Singular (or non-finite) information scores `BAD`.
    """
    eig, vec = np.linalg.eigh(0.5 * (info + np.swapaxes(info, -1, -2)))
    low = eig[..., 0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "d":
            score = -np.mean(np.log(eig), axis=-1)
        elif kind == "marginal":
            score = np.mean(np.log(np.sum(vec ** 2 / eig[..., None, :], axis=-1)), axis=-1)
        else:
            score = np.log(eig[..., -1] / low)
    return np.where((low > 0) & np.isfinite(score), score, BAD)


def predicted_std(params: ParamSet, values: np.ndarray, info: np.ndarray) -> np.ndarray:
    """(n,) predicted standard errors in parameter units from the (n, n) unit-box information
    (inf for a parameter in a direction the experiment cannot see)."""
    eig, vec = np.linalg.eigh(0.5 * (info + info.T))
    seen = eig > max(eig[-1], 0.0) * 1e-12
    var_u = (vec[:, seen] ** 2 / eig[seen]).sum(axis=1)
    blind = (vec[:, ~seen] ** 2).sum(axis=1) > 1e-6
    std_u = np.where(blind, np.inf, np.sqrt(var_u))
    return np.abs(params.value_per_unit(values)) * std_u


def prior_information(params: ParamSet, values: np.ndarray, std: dict[str, float]) -> np.ndarray:
    """(n, n) diagonal unit-box information of earlier estimates with standard errors `std`
    (parameter name -> std in parameter units; parameters not named get none)."""
    dv_du = np.abs(params.value_per_unit(values))
    diag = np.zeros(len(params))
    for i, name in enumerate(params.names):
        s = std.get(name)
        if s is not None and np.isfinite(s) and s > 0:
            diag[i] = (dv_du[i] / s) ** 2
    return np.diag(diag)
