"""Least-squares polish: scipy's trust-region reflective solver with a batched Jacobian."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize

from sysid.objective import Objective, Subspace
from sysid.optim.base import Outcome


@dataclasses.dataclass(frozen=True)
class LeastSquares:
    """`scipy.optimize.least_squares` (method "trf") on the residual vector.

    The finite-difference Jacobian is computed by the objective as one batched rollout.

    Attributes:
      max_iterations: Jacobian evaluations at most.
      tolerance: ftol = xtol passed to scipy (gtol is 1e-8). A relative change of 1e-6 in the
        sum of squares is far below one standard error when there are thousands of residuals.
      first_tolerance: the same for the first solve, with start states held (when they are refined).
    """

    max_iterations: int = 30
    tolerance: float = 1e-6
    first_tolerance: float = 1e-4
    name: str = "lsq"
    local: bool = True

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        start = objective.evaluations
        n = getattr(objective, "n", objective.dim)
        x0 = np.clip(np.asarray(x0, float), objective.lower, objective.upper)
        if objective.dim > n:
            # The parameters travel first with the start states held: each Jacobian then costs
            # n candidates instead of n + nx, and scipy's SVD per iteration n columns instead of
            # n + windows x nx. The joint solve that follows starts near the optimum.
            params_only = self._solve(Subspace(objective, np.arange(n), x0), x0[:n], self.first_tolerance)
            x0 = x0.copy()
            x0[:n] = params_only.x
        solution = self._solve(objective, x0, self.tolerance)
        loss = float(np.mean(solution.fun**2))
        return Outcome(solution.x, loss, objective.evaluations - start, solution.message, solution.jac)

    def _solve(self, objective, x0: np.ndarray, tolerance: float):
        """scipy's trf from x0 (dim,) on objective (an `Objective` or `Subspace`)."""
        cache: dict[bytes, np.ndarray] = {}

        def residuals(x: np.ndarray) -> np.ndarray:
            r = objective.residuals(x[None])[0]
            cache.clear()
            cache[x.tobytes()] = r
            return r

        def jacobian(x: np.ndarray) -> np.ndarray:
            r = cache.get(x.tobytes())
            return objective.jacobian(x, residuals(x) if r is None else r)

        return optimize.least_squares(
            residuals, x0, jac=jacobian, bounds=(objective.lower, objective.upper), method="trf",
            x_scale="jac", ftol=tolerance, xtol=tolerance, gtol=1e-8, max_nfev=self.max_iterations,
        )
