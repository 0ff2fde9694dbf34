"""Least-squares polish: scipy's least_squares (trust-region reflective, or MINPACK's
Levenberg-Marquardt away from the bounds) with a batched Jacobian."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize

from sysid.objective import Objective, Subspace
from sysid.optim.base import Outcome


INTERIOR = 1e-3  # distance (unit box) from every bound for the joint solve to try "lm"


@dataclasses.dataclass(frozen=True)
class LeastSquares:
    """`scipy.optimize.least_squares` on the residual vector.

    The finite-difference Jacobian is computed by the objective as one batched rollout. With
    refined start states, the parameters travel first with the states held (method "trf", which
    keeps the bounds), then jointly with them: by MINPACK's Levenberg-Marquardt ("lm", a QR per
    iteration instead of trf's SVD) when that start is inside the bounds, finished by "trf" from
    the nearest point in the bounds when the "lm" answer leaves them.

    Attributes:
      max_iterations: scipy's max_nfev for each solve ("lm" and a "trf" after it count separately).
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
        solution = self._solve(objective, x0, self.tolerance, interior=objective.dim > n)
        loss = float(np.mean(solution.fun**2))
        return Outcome(solution.x, loss, objective.evaluations - start, solution.message, solution.jac, residuals=solution.fun)

    def _solve(self, objective, x0: np.ndarray, tolerance: float, *, interior: bool = False):
        """scipy's least squares from x0 (dim,) on objective (an `Objective` or `Subspace`).

        interior: try "lm" first when x0 is inside the bounds.
        """
        cache: dict[bytes, np.ndarray] = {}

        def residuals(x: np.ndarray) -> np.ndarray:
            r = objective.residuals(x[None])[0]
            cache.clear()
            cache[x.tobytes()] = r
            return r

        def jacobian(x: np.ndarray) -> np.ndarray:
            r = cache.get(x.tobytes())
            return objective.jacobian(x, residuals(x) if r is None else r)

        lower, upper = objective.lower, objective.upper
        options = dict(jac=jacobian, x_scale="jac", ftol=tolerance, xtol=tolerance, gtol=1e-8, max_nfev=self.max_iterations)
        if interior and len(x0) <= objective.m and np.all((x0 > lower + INTERIOR) & (x0 < upper - INTERIOR)):
            solution = optimize.least_squares(residuals, x0, method="lm", **options)
            if np.all((solution.x >= lower) & (solution.x <= upper)):
                return solution
            x0 = np.clip(solution.x, lower, upper)
        return optimize.least_squares(residuals, x0, bounds=(lower, upper), method="trf", **options)
