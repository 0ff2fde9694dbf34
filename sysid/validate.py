"""Prediction error of a model on logs it was not fitted to, at several horizons.

A horizon is written as in `--horizons`: seconds ("0.5", "1") or "open". Open loop: each log is
one window as long as the log, simulated from its first (filtered) logged state under the logged
commands. A horizon of h seconds: the log is cut into back-to-back windows of h, each started
from the filtered logged state at its first row (what the fit's own RMSE measures). Both compare
positions (and logged velocities) at the logged times. `sysid eval`, `--val`, `--val-log` and
`--cv` all score through `horizon_errors`, so they report the same numbers for the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from sysid.data import Log
from sysid.errors import UserError
from sysid.loss import ShootingLoss
from sysid.params import ParamSet
from sysid.sim import Simulator
from sysid.track import bind_log

if TYPE_CHECKING:
    from sysid.closedloop import ClosedLoop


def prediction_errors(model: mujoco.MjModel, params: ParamSet, values: np.ndarray, logs: Sequence[Log], *,
                      horizon: float | None, nthread: int | None = None, loop: ClosedLoop | None = None) -> list[dict[str, np.ndarray]]:
    """Simulated-minus-logged errors, per log and signal.

    Args:
      model: the compiled model; `params` with (C, n) `values` are written into copies of it
        (an empty ParamSet with (C, 0) values evaluates the model as it is).
      logs: the logs, each bound to the model.
      horizon: s, window length; None for open loop (one window per log).
      loop: actuator models in the loop (`sysid.closedloop`), their fitted numbers read from `values`.
    Returns:
      per log: signal name -> (C, M) errors at the M compared rows, in the signal's unit
      (NaN where the simulation diverged).
    """
    values = np.atleast_2d(np.asarray(values, float))
    sim = Simulator(model, params, nthread=nthread, loop=loop)
    if loop is not None:
        loop.bind(params)
    try:
        out = []
        for log in logs:
            track = bind_log(log, model)
            window = log.duration * (1 + 1e-9) + model.opt.timestep if horizon is None else horizon
            loss = ShootingLoss(sim, [track], window)
            simulated, ok = loss.simulate(values)
            simulated[~ok[:, loss.windows.entry_window]] = np.nan
            error = simulated - loss.windows.entry_target
            out.append({name: error[:, loss.windows.entry_signal == s] for s, name in enumerate(track.signals)})
        return out
    finally:
        sim.close()


OPEN = "open"
WORSE_TOLERANCE = 0.02  # a fitted model more than 2% worse (score) than the initial one on a held-out log is reported
DEFAULT_HORIZONS = ("0.5", "1", OPEN)


def parse_horizons(text: str, *, option: str = "--horizons") -> tuple[str, ...]:
    """"0.25,0.5,1,open" -> ("0.25", "0.5", "1", "open"), as written; a UserError for anything else."""
    items = tuple(h.strip() for h in str(text).split(",") if h.strip())
    if not items:
        raise UserError(f"{option}: give comma-separated seconds or 'open', e.g. 0.5,1,open")
    for h in items:
        if h != OPEN:
            try:
                seconds = float(h)
            except ValueError:
                raise UserError(f"{option}: {h[:20]!r} is neither seconds nor 'open' (e.g. 0.5,1,open)") from None
            if not np.isfinite(seconds) or seconds <= 0:
                raise UserError(f"{option}: horizon {h!r} must be a positive number of seconds")
    if len(set(items)) != len(items):
        raise UserError(f"{option}: horizon listed twice in {text!r}")
    return items


def horizon_seconds(horizon: str) -> float | None:
    """"0.5" -> 0.5 s; "open" -> None (one window per log)."""
    return None if horizon == OPEN else float(horizon)


def check_horizons(horizons: Sequence[str], logs: Sequence[Log], *, option: str = "--horizons") -> None:
    """A UserError naming the log when a horizon in seconds is longer than a log (use 'open' instead)."""
    for h in horizons:
        seconds = horizon_seconds(h)
        for log in logs:
            if seconds is not None and seconds > log.duration * (1 + 1e-9):
                raise UserError(f"{option}: horizon {h} s is longer than {log.source} ({log.duration:.3g} s); "
                                f"use a shorter horizon or 'open'")


def horizon_errors(model: mujoco.MjModel, params: ParamSet, values: np.ndarray, logs: Sequence[Log], horizons: Sequence[str], *,
                   nthread: int | None = None, loop: ClosedLoop | None = None) -> dict[str, list[dict[str, np.ndarray]]]:
    """`prediction_errors` at every horizon: horizon -> per log: signal -> (C, M) errors."""
    return {h: prediction_errors(model, params, values, logs, horizon=horizon_seconds(h), nthread=nthread, loop=loop)
            for h in horizons}


def _same_as(horizon: str, written: Sequence[str]) -> str:
    """`horizon` as the user wrote it in `written` when it is the same number ("1.0" for "1")."""
    return next((h for h in written if h != OPEN and float(h) == float(horizon)), horizon)


def selection_score(by_horizon: dict, *, key: str = "score_fitted") -> float:
    """The held-out number models are chosen by: the mean score over the windowed horizons of a
    `validation_report`'s `by_horizon` (open loop alone when no windowed horizon is there)."""
    windowed = [v[key] for h, v in by_horizon.items() if h != OPEN]
    values = windowed or [v[key] for v in by_horizon.values()]
    return float(np.mean(values)) if all(np.isfinite(values)) else float("inf")


def signal_scales(model: mujoco.MjModel, logs: Sequence[Log]) -> dict[str, float]:
    """Signal -> its noise level (mean over logs of the estimate the loss divides by), to rank models
    by one number over signals of different units."""
    scales: dict[str, list[float]] = {}
    for log in logs:
        track = bind_log(log, model)
        for name, sigma in zip(track.signals, track.sigma):
            scales.setdefault(name, []).append(float(sigma))
    return {name: float(np.mean(v)) for name, v in scales.items()}


def score(rmse_by_signal: dict[str, float], scales: dict[str, float]) -> float:
    """One number to rank models: the root mean square over signals of RMSE / noise level."""
    terms = [(v / scales.get(k, 1.0)) ** 2 for k, v in rmse_by_signal.items()]
    return float(np.sqrt(np.mean(terms))) if terms else float("nan")


def rmse(errors: Sequence[dict[str, np.ndarray]]) -> list[dict[str, float]]:
    """Pooled RMSE per candidate and signal over all logs: [(C,) ...] -> C dicts signal -> RMSE."""
    names = list(dict.fromkeys(name for e in errors for name in e))
    ncand = next(iter(errors[0].values())).shape[0]
    pooled = {name: np.concatenate([e[name] for e in errors if name in e], axis=1) for name in names}
    return [{name: float(np.sqrt(np.mean(pooled[name][c] ** 2))) for name in names} for c in range(ncand)]


def validation_report(model: mujoco.MjModel, params: ParamSet, initial: np.ndarray, values: np.ndarray,
                      logs: Sequence[Log], *, horizon: float, nthread: int | None = None,
                      names: Sequence[str] | None = None, loop: ClosedLoop | None = None,
                      horizons: Sequence[str] = ()) -> dict:
    """result.json's `validation` section: RMSE of the fitted and the initial model on held-out logs.

    Args:
      initial, values: (n,) initial and fitted parameter values.
      logs: the validation logs; `names` labels them (default: their sources).
      horizon: s, the fit's last window length (`rmse_horizon`, `rmse_open_loop` keep their keys).
      loop: the fit's actuator models in the loop, if any.
      horizons: further horizons as in `--horizons` ("0.5", "open"); every one (and the fit's) is in
        `by_horizon` {horizon: {"fitted": {signal: RMSE}, "initial": {...}}}.
    Returns also `worse_than_initial`: one entry {log, horizon, initial, fitted} (scores in noise
    units) wherever the fitted model predicts a log more than WORSE_TOLERANCE worse than the initial one.
    """
    both = np.stack([values, initial])
    labels = list(names) if names is not None else [log.source for log in logs]
    report: dict = {"logs": labels, "horizon_s": horizon}
    per_log: dict[str, dict] = {label: {"duration_s": log.duration} for label, log in zip(labels, logs)}
    fit_horizon = _same_as(f"{horizon:g}", horizons)
    every = list(dict.fromkeys([*horizons, fit_horizon, OPEN]))
    errors = horizon_errors(model, params, both, logs, every, nthread=nthread, loop=loop)
    scales = signal_scales(model, logs)
    report["by_horizon"] = {}
    worse = []
    for h in every:
        fitted, start = rmse(errors[h])
        report["by_horizon"][h] = {"fitted": fitted, "initial": start, "score_fitted": score(fitted, scales),
                                   "score_initial": score(start, scales)}
        if h == OPEN or h == fit_horizon:
            key = "open_loop" if h == OPEN else "horizon"
            report[f"rmse_{key}"] = fitted
            report[f"rmse_{key}_initial"] = start
        for label, e in zip(labels, errors[h]):
            f_log, i_log = rmse([e])
            per_log[label].setdefault("by_horizon", {})[h] = {"fitted": f_log, "initial": i_log}
            if h == OPEN or h == fit_horizon:
                per_log[label][f"rmse_{'open_loop' if h == OPEN else 'horizon'}"] = f_log
            f_score, i_score = score(f_log, scales), score(i_log, scales)
            if not f_score <= i_score * (1 + WORSE_TOLERANCE):  # NaN (diverged) counts as worse
                worse.append({"log": label, "horizon": h, "initial": i_score, "fitted": f_score})
    report["per_log"] = per_log
    report["worse_than_initial"] = worse
    return report
