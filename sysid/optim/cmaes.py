"""CMA-ES (the `cma` package) on the unit box, one batched rollout per generation."""

from __future__ import annotations

import dataclasses
import warnings

import cma
import numpy as np

from sysid.objective import Objective
from sysid.optim.base import Outcome


@dataclasses.dataclass(frozen=True)
class CMAES:
    """Covariance matrix adaptation evolution strategy.

    Attributes:
      sigma0: initial step size in the unit box (0.15 = 15% of each parameter's log range).
      popsize: candidates per generation (default: cma's 4 + 3 ln n, at least 8).
      max_evaluations: evaluation budget for one call.
      tolx: stop when the search distribution is this small in the unit box (the default, 1%
        of a log range of 100x, is about 5% in value: CMA-ES finds the basin, least squares
        the precise optimum).
    """

    sigma0: float = 0.15
    popsize: int | None = None
    max_evaluations: int = 600
    tolx: float = 1e-2
    name: str = "cmaes"
    local: bool = False

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        n = len(x0)
        popsize = self.popsize or max(8, 4 + int(3 * np.log(n)))
        options = {
            "bounds": [list(objective.lower), list(objective.upper)],
            "popsize": popsize,
            "seed": seed + 1,  # cma treats seed 0 as "random"
            "maxfevals": self.max_evaluations,
            "tolx": self.tolx,
            "tolfunhist": 1e-9,
            "verbose": -9,
        }
        if n == 1:
            # pycma's default maxstd (a third of the bounds' range) makes a bounded 1-D search
            # raise ValueError in its first `tell`; pycma also warns that 1-D is unsupported.
            options["maxstd"] = np.inf
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Initial solution argument x0")
            es = cma.CMAEvolutionStrategy(np.clip(x0, 0.0, 1.0), self.sigma0, options)
        start = objective.evaluations
        while not es.stop():
            candidates = np.array(es.ask())
            es.tell(list(candidates), list(objective.loss(candidates)))
        best = es.result.xbest if es.result.xbest is not None else x0
        message = ", ".join(f"{k}={v}" for k, v in es.stop().items())
        return Outcome(np.asarray(best), float(es.result.fbest), objective.evaluations - start, message)
