"""CMA-ES (the `cma` package) on the unit box, one batched rollout per generation."""

from __future__ import annotations

import dataclasses
import warnings

import cma
import numpy as np

from sysid.objective import Objective, StateProjection, Subspace
from sysid.optim.base import Outcome


MIN_POPSIZE = 8  # default population floor, see CMAES.popsize


@dataclasses.dataclass(frozen=True)
class CMAES:
    """Covariance matrix adaptation evolution strategy.

    CMA-ES searches the parameters only. When the objective also holds window start-state
    offsets (a final stage with `refine_states`: nothing polishes after it), they are nuisance
    variables handled by variable projection: the candidates' residuals are scored after
    removing what the offsets could explain (their Jacobian, one batched rollout, frozen at the
    start point), and a damped Gauss-Newton step sets the offsets at the best parameters; this
    runs twice, the second time from the first's result. Noisy measured start states then do
    not bias the result, and a candidate still costs one rollout per window.

    Attributes:
      sigma0: initial step size in the unit box (0.15 = 15% of each parameter's log range).
      popsize: candidates per generation (default: cma's 4 + 3 ln n, at least 8).
      max_evaluations: evaluation budget for one call (default: 25 per searched parameter, at
        least 200; pycma stops at the first generation past it). With `FitConfig.max_windows`' 32
        windows per candidate, the 21 generations of 10 this gives on the 2-link arm's 8
        parameters are enough for least squares to take over.
      tolx: stop when the search distribution is this small in the unit box (the default, 1%
        of a log range of 100x, is about 5% in value: CMA-ES finds the basin, least squares
        the precise optimum).
      final_max_evaluations, final_tolx: the same on a final stage (`Objective.final`: no
        optimizer polishes after this one, e.g. `--optimizer cmaes` alone), where CMA-ES
        must converge to the optimum itself.
      state_sigma: step size of the second pass with start states (unit box).
    """

    sigma0: float = 0.15
    popsize: int | None = None
    max_evaluations: int | None = None
    tolx: float = 1e-2
    final_max_evaluations: int = 4000
    final_tolx: float = 1e-4
    state_sigma: float = 0.02
    name: str = "cmaes"
    local: bool = False

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        n = getattr(objective, "n", objective.dim)
        start = objective.evaluations
        if objective.dim == n:
            best, loss, message = self._search(objective.loss, objective, x0, self.sigma0, seed)
            return Outcome(best, loss, objective.evaluations - start, message)
        x = np.array(x0, float)
        for sigma in (self.sigma0, self.state_sigma):
            projection = StateProjection.at(objective, x)
            sub = Subspace(objective, np.arange(n), x)
            x[:n], _, message = self._search(lambda u: np.mean(projection.project(sub.residuals(u)) ** 2, axis=1), objective, x[:n], sigma, seed)
            x = _refine_states(objective, x)
        return Outcome(x, float(objective.loss(x[None])[0]), objective.evaluations - start, message)

    def expected_evaluations(self, objective: Objective) -> int:
        """Evaluations this search may spend on objective (for progress reports)."""
        n = getattr(objective, "n", objective.dim)
        budget = self.final_max_evaluations if getattr(objective, "final", False) else self.evaluation_budget(n)
        return budget if objective.dim == n else 2 * budget

    def evaluation_budget(self, n: int) -> int:
        """Evaluations of one non-final search over n parameters."""
        return self.max_evaluations if self.max_evaluations is not None else max(200, 25 * n)

    def _search(self, loss, objective, u0: np.ndarray, sigma0: float, seed: int) -> tuple[np.ndarray, float, str]:
        """CMA-ES of loss ((B, n) -> (B,)) over the parameters' unit box from u0 (n,)."""
        n = len(u0)
        final = getattr(objective, "final", False)
        options = {
            "bounds": [list(objective.lower[:n]), list(objective.upper[:n])],
            "popsize": self.popsize or max(MIN_POPSIZE, 4 + int(3 * np.log(n))),
            "seed": seed + 1,  # cma treats seed 0 as "random"
            "maxfevals": self.final_max_evaluations if final else self.evaluation_budget(n),
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
            es = cma.CMAEvolutionStrategy(np.clip(u0, 0.0, 1.0), sigma0, options)
        while not es.stop():
            candidates = np.array(es.ask())
            es.tell(list(candidates), list(loss(candidates)))
        best = es.result.xbest if es.result.xbest is not None else u0
        return np.asarray(best), float(es.result.fbest), ", ".join(f"{k}={v}" for k, v in es.stop().items())


def _refine_states(objective: Objective, x: np.ndarray) -> np.ndarray:
    """One damped Gauss-Newton step on the start-state offsets of x (dim,), the parameters held.

    The full, half and quarter steps are tried in one batched rollout; the best is kept if it
    lowers the loss (far from the optimum a full step can overshoot into diverging windows).
    """
    n = objective.n
    r = objective.residuals(x[None])[0]
    step = StateProjection(objective, objective.jacobian_chunks(x, r)).offsets(r)
    trials = np.repeat(x[None], 3, axis=0)
    trials[:, n:] += np.array([1.0, 0.5, 0.25])[:, None] * step
    losses = objective.loss(trials)
    best = int(np.argmin(losses))
    return trials[best] if losses[best] < np.mean(r**2) else x
