"""Prediction error of a model on logs it was not fitted to: open loop and over a fit's horizon.

Open loop: each log is one window as long as the log, simulated from its first (filtered) logged
state under the logged commands. Horizon: the log is cut into back-to-back windows of the fit's
last horizon, each started from the filtered logged state at its first row (what the fit's own
RMSE measures). Both compare positions (and logged velocities) at the logged times.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from sysid.data import Log
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


def rmse(errors: Sequence[dict[str, np.ndarray]]) -> list[dict[str, float]]:
    """Pooled RMSE per candidate and signal over all logs: [(C,) ...] -> C dicts signal -> RMSE."""
    names = list(dict.fromkeys(name for e in errors for name in e))
    ncand = next(iter(errors[0].values())).shape[0]
    pooled = {name: np.concatenate([e[name] for e in errors if name in e], axis=1) for name in names}
    return [{name: float(np.sqrt(np.mean(pooled[name][c] ** 2))) for name in names} for c in range(ncand)]


def validation_report(model: mujoco.MjModel, params: ParamSet, initial: np.ndarray, values: np.ndarray,
                      logs: Sequence[Log], *, horizon: float, nthread: int | None = None,
                      names: Sequence[str] | None = None, loop: ClosedLoop | None = None) -> dict:
    """result.json's `validation` section: RMSE open loop and over `horizon`, fitted and initial.

    Args:
      initial, values: (n,) initial and fitted parameter values.
      logs: the validation logs; `names` labels them (default: their sources).
      horizon: s, the fit's last window length.
      loop: the fit's actuator models in the loop, if any.
    """
    both = np.stack([values, initial])
    labels = list(names) if names is not None else [log.source for log in logs]
    report: dict = {"logs": labels, "horizon_s": horizon}
    per_log: dict[str, dict] = {label: {"duration_s": log.duration} for label, log in zip(labels, logs)}
    for key, window in (("open_loop", None), ("horizon", horizon)):
        errors = prediction_errors(model, params, both, logs, horizon=window, nthread=nthread, loop=loop)
        fitted, start = rmse(errors)
        report[f"rmse_{key}"] = fitted
        report[f"rmse_{key}_initial"] = start
        for label, e in zip(labels, errors):
            per_log[label][f"rmse_{key}"] = rmse([e])[0]
    report["per_log"] = per_log
    return report

