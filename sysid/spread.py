"""How much the fitted parameters move between logs: per-log refits from the joint fit's values.

A fit on several logs returns one value per parameter, and its standard error (from the Jacobian)
says how well the logs pin that value down if the model were exact. Real runs disagree far more:
the load, the temperature, the wear and what the model lacks differ from run to run, so a mass
known to +-0.04% from the Jacobian moves by percents from one log to the next. That movement is
what a policy must be robust to, so `sysid export` widens the randomization ranges by it
(`sysid.randomization`).

The refits are cheap: least squares on each log alone at the polish horizon, started from the
joint fit's values, at most `SPREAD_ITERATIONS` residual evaluations each (a local correction,
not a new search). result.json's `spread` records them:

    {"source": "per-log refits", "logs": [...], "iterations": 10, "values": {NAME: [one per log]},
     "std": {NAME: std over logs (ddof 1)}, "wall_time_s": ...}
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from typing import Any

import mujoco
import numpy as np

from sysid.data import Log
from sysid.errors import UserError
from sysid.fit import FitConfig, FitResult, fit
from sysid.params import ParamSet

SPREAD_ITERATIONS = 5  # residual evaluations (each with a Jacobian) of every per-log refit


def per_log_spread(model: mujoco.MjModel, logs: Sequence[Log], names: Sequence[str], result: FitResult, config: FitConfig, *,
                   loop: Any = None, iterations: int = SPREAD_ITERATIONS) -> dict | None:
    """result.json's `spread` for a fit on two or more logs (see the module docstring); None when
    fewer than two logs could be refitted alone (each failure is a warning).

    Args:
      model: the fitted (input) model; logs: the fit's training logs, `names` their labels.
      result: the joint fit, whose values start every refit.
      config: the joint fit's config; the refits keep its loss, priors and state refinement.
      loop: the fit's actuator models / residual dynamics, if any.
    """
    start_time = time.perf_counter()
    params = ParamSet([dataclasses.replace(p, initial=float(np.clip(v, p.lower, p.upper))) for p, v in zip(result.params, result.values)],
                      model=model)
    refit = dataclasses.replace(config, optimizer="lsq", horizons=(result.horizon,), starts=1, shrink=0.0, local_first=False,
                                optimizer_options={"lsq": {"max_iterations": iterations}})
    rows, kept = [], []
    for log, name in zip(logs, names):
        try:
            r = fit(model, [log], params, refit, progress=False, loop=loop, quiet=True)
        except UserError as error:  # e.g. a log too short for the horizon alone: the joint fit stands
            warnings.warn(f"spread: the refit of {name} alone failed ({error}); it is left out of the spread", stacklevel=2)
            continue
        if r.interrupted:  # Ctrl-C: the joint fit is written without a spread
            return None
        rows.append(r.values)
        kept.append(name)
    if len(rows) < 2:
        return None
    values = np.array(rows)
    return {
        "source": "per-log refits", "logs": kept, "iterations": iterations,
        "values": {p.name: [float(v) for v in values[:, i]] for i, p in enumerate(params)},
        "std": {p.name: float(np.std(values[:, i], ddof=1)) for i, p in enumerate(params)},
        "wall_time_s": time.perf_counter() - start_time,
    }
