"""CMA-ES (the `cma` package) on the unit box, one batched rollout per generation."""

from __future__ import annotations

import dataclasses
import warnings

import cma
import numpy as np

from sysid.objective import Objective, Subspace
from sysid.optim.base import Outcome


@dataclasses.dataclass(frozen=True)
class CMAES:
    """Covariance matrix adaptation evolution strategy.

    CMA-ES searches the parameters only. When the objective also holds window start-state
    offsets (a final stage with `refine_states`), they are nuisance variables refined by one
    Gauss-Newton step (one batched rollout of n + nx candidates) at the search mean every
    `state_every` generations, so that noisy measured start states do not bias the result.

    Attributes:
      sigma0: initial step size in the unit box (0.15 = 15% of each parameter's log range).
      popsize: candidates per generation (default: cma's 4 + 3 ln n, at least 8).
      max_evaluations: evaluation budget for one call.
      tolx: stop when the search distribution is this small in the unit box (the default, 1%
        of a log range of 100x, is about 5% in value: CMA-ES finds the basin, least squares
        the precise optimum).
      final_max_evaluations, final_tolx: the same on a final stage (`Objective.final`: no
        optimizer polishes after this one, e.g. `--optimizer cmaes` alone), where CMA-ES
        must converge to the optimum itself.
      state_every: generations between two refinements of the start-state offsets.
    """

    sigma0: float = 0.15
    popsize: int | None = None
    max_evaluations: int = 600
    tolx: float = 1e-2
    final_max_evaluations: int = 6000
    final_tolx: float = 1e-4
    state_every: int = 5
    name: str = "cmaes"
    local: bool = False

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        n = getattr(objective, "n", objective.dim)
        final = getattr(objective, "final", False)
        popsize = self.popsize or max(8, 4 + int(3 * np.log(n)))
        search = Subspace(objective, np.arange(n), x0) if objective.dim > n else objective
        options = {
            "bounds": [list(objective.lower[:n]), list(objective.upper[:n])],
            "popsize": popsize,
            "seed": seed + 1,  # cma treats seed 0 as "random"
            "maxfevals": self.final_max_evaluations if final else self.max_evaluations,
            "tolx": self.final_tolx if final else self.tolx,
            "tolfunhist": 1e-9,
            "verbose": -9,
        }
        if n == 1:
            # pycma's default maxstd (a third of the bounds' range) makes a bounded 1-D search
            # raise ValueError in its first `tell`; pycma also warns that 1-D is unsupported.
            options["maxstd"] = np.inf
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Initial solution argument x0")
            es = cma.CMAEvolutionStrategy(np.clip(x0[:n], 0.0, 1.0), self.sigma0, options)
        start = objective.evaluations
        generation = 0
        while not es.stop():
            candidates = np.array(es.ask())
            es.tell(list(candidates), list(search.loss(candidates)))
            generation += 1
            if search is not objective and generation % self.state_every == 0:
                search.base = _refine_states(objective, np.concatenate([np.clip(es.mean, 0, 1), search.base[n:]]))
        best = es.result.xbest if es.result.xbest is not None else x0[:n]
        x = np.concatenate([best, search.base[n:]]) if search is not objective else np.asarray(best)
        loss = float(objective.loss(x[None])[0]) if search is not objective else float(es.result.fbest)
        message = ", ".join(f"{k}={v}" for k, v in es.stop().items())
        return Outcome(x, loss, objective.evaluations - start, message)


def _refine_states(objective: Objective, x: np.ndarray) -> np.ndarray:
    """One Gauss-Newton step on the start-state offsets of x (dim,), the parameters held."""
    n = objective.n
    r = objective.residuals(x[None])[0]
    jac = objective.jacobian(x, r)[:, n:]
    step = np.linalg.lstsq(jac, -r, rcond=None)[0]
    return np.concatenate([x[:n], x[n:] + step])
