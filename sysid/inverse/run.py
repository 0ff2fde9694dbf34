"""`sysid fit --objective inverse | forward+inverse`: the inverse-dynamics solve as a fit.

* ``inverse``: `fit_inverse` alone; the forward rollout loss of the result is computed once (the
  polish horizon's windows) so result.json's `loss`, `rmse` and fit.png mean what they mean for a
  forward fit.
* ``forward+inverse``: `fit_inverse` first; its values start the forward fit, whose residuals get
  the inverse-dynamics torque residuals appended (noise units, times sqrt(weight); the friction
  terms MJCF cannot hold, e.g. offsets and sigmoids, stay at the inverse solve's values). The
  inertial parameters stay in log-Cholesky coordinates, so every candidate is a consistent body.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import mujoco
import numpy as np

from sysid.data import Log
from sysid.fit import FitConfig, FitResult, fit, initial_and_fitted
from sysid.inertial import STANDARD
from sysid.inverse.solve import InverseOptions, InverseResult, fit_inverse
from sysid.loss import ShootingLoss
from sysid.params import ParamSet
from sysid.priors import ExtraResiduals
from sysid.sim import Simulator
from sysid.track import bind_log

OBJECTIVES = ("forward", "inverse", "forward+inverse")


def fit_objective(objective: str, model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet, config: FitConfig,
                  options: InverseOptions, *, weight: float = 1.0, progress: bool = False) -> tuple[FitResult, InverseResult]:
    """Run `objective` ("inverse" or "forward+inverse"); returns the FitResult and the inverse solve."""
    start = time.perf_counter()
    inv = fit_inverse(model, logs, params, options)
    if objective == "inverse":
        return _as_fit_result(model, logs, inv, config, time.perf_counter() - start), inv
    started = ParamSet([dataclasses.replace(p, initial=float(v)) for p, v in zip(inv.params, inv.values)], model=model)
    size = inv.torque_residuals(started.initial[None]).shape[1]
    root = float(np.sqrt(weight))
    extra = ExtraResiduals(lambda values: root * inv.torque_residuals(values), size)
    result = fit(model, logs, started, config, progress=progress, quiet=True, extra_residuals=extra)
    return dataclasses.replace(result, wall_time_s=time.perf_counter() - start, optimizer=f"inverse+{result.optimizer}"), inv


def _as_fit_result(model: mujoco.MjModel, logs: Sequence[Log], inv: InverseResult, config: FitConfig, wall: float) -> FitResult:
    """The inverse solve as a FitResult, with the forward loss of the initial and fitted values over
    the config's last horizon (windows from the logged states, as a forward fit reports them)."""
    params, values = inv.params, inv.values
    tracks = [bind_log(log, model) for log in logs]
    sim = Simulator(model, params, nthread=config.nthread)
    try:
        final = ShootingLoss(sim, tracks, config.horizons[-1], robust=config.loss)
        simulated, losses = initial_and_fitted(final, params, values)
        return FitResult(
            params=params, values=values, uncertainty=inv.uncertainty, loss_initial=float(losses[0]), loss_final=float(losses[1]),
            rmse_initial=final.rmse(simulated[0]), rmse_final=final.rmse(simulated[1]), horizon=config.horizons[-1],
            evaluations=0, sim_steps=sim.steps, wall_time_s=wall, rollout_time_s=sim.rollout_seconds, history=[],
            stages=[f"inverse dynamics: {len(inv.problem.y)} torque rows, {inv.linear.base.rank} base parameters, "
                    f"{inv.timings['total_s']:.3g} s"],
            interrupted=False, optimizer="inverse", tracks=tracks, windows=final.windows, simulated=simulated,
            rollout_calls=sim.calls, optimizer_reason="--objective inverse: linear solve on base parameters, then the "
            "physically consistent (log-Cholesky) solve", robust_std=inv.robust_std)
    finally:
        sim.close()


def inverse_report(inv: InverseResult, *, objective: str, weight: float) -> dict:
    """result.json's `inverse`: what was filtered, solved and how well."""
    prob = inv.problem
    return {
        "objective": objective,
        "weights": {"forward": 1.0, "inverse": weight} if objective == "forward+inverse" else {"inverse": 1.0},
        "filter": prob.samples.filter,
        "friction": list(inv.layout.options.friction),
        "joints": list(prob.joints),
        "noise_n_m": dict(zip(prob.joints, map(float, inv.linear.sigma))),
        "torque_rmse": inv.rmse,
        "torque_rmse_initial": inv.rmse_initial,
        "rows": int(len(prob.y)),
        "base_parameters": inv.base_report(),
        "rank": inv.linear.base.rank,
        "columns": len(prob.names),
        "friction_terms": inv.extra,
        "bodies": {name: {"consistent": bool(ok), "standard": dict(zip(STANDARD, map(float, phi)))}
                   for name, ok, phi in zip(prob.body_names, inv.consistent, inv.phi)},
        "intervals": {"robust": "cluster-robust sandwich and block bootstrap over windows of block_s (filter); 95% "
                                "intervals use Student's t with windows - 1 degrees of freedom",
                      "bootstrap_resamples": inv.layout.options.bootstrap},
        "bounds_widened": list(inv.widened),
        "timings_s": inv.timings,
    }
