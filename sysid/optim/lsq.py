"""Least-squares polish: scipy's trust-region reflective solver with a batched Jacobian."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize

from sysid.objective import Objective
from sysid.optim.base import Outcome


@dataclasses.dataclass(frozen=True)
class LeastSquares:
    """`scipy.optimize.least_squares` (method "trf") on the residual vector.

    The finite-difference Jacobian is computed by the objective as one batched rollout.

    Attributes:
      max_iterations: Jacobian evaluations at most.
      tolerance: ftol = xtol passed to scipy (gtol is 1e-8). A relative change of 1e-6 in the
        sum of squares is far below one standard error when there are thousands of residuals.
    """

    max_iterations: int = 30
    tolerance: float = 1e-6
    name: str = "lsq"
    local: bool = True

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        start = objective.evaluations
        cache: dict[bytes, np.ndarray] = {}

        def residuals(x: np.ndarray) -> np.ndarray:
            r = objective.residuals(x[None])[0]
            cache.clear()
            cache[x.tobytes()] = r
            return r

        def jacobian(x: np.ndarray) -> np.ndarray:
            r = cache.get(x.tobytes())
            return objective.jacobian(x, residuals(x) if r is None else r)

        x0 = np.clip(x0, objective.lower, objective.upper)
        solution = optimize.least_squares(
            residuals, x0, jac=jacobian, bounds=(objective.lower, objective.upper), method="trf",
            x_scale="jac", ftol=self.tolerance, xtol=self.tolerance, gtol=1e-8,
            max_nfev=self.max_iterations,
        )
        loss = float(np.mean(solution.fun**2))
        return Outcome(solution.x, loss, objective.evaluations - start, solution.message, solution.jac)
