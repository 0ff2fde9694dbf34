"""Least-squares polish: Levenberg-Marquardt on the window-block structure of the shooting loss
(`sysid.optim.blocks`), or scipy's least_squares for other objectives."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize

from sysid.objective import Objective
from sysid.optim import blocks
from sysid.optim.base import Outcome


FAR_LOSS = 10.0  # start loss (noise units) above which the parameters first travel with the start states held
INTERIOR = 1e-3  # distance (unit box) from every bound for the joint solve to try "lm"


@dataclasses.dataclass(frozen=True)
class LeastSquares:
    """Levenberg-Marquardt on the residual vector.

    The finite-difference Jacobian is computed by the objective, n + nx candidates rolled out a
    few windows at a time, and folded into one small QR factor per window (`sysid.optim.blocks`):
    the start states of the windows are eliminated window by window, so memory and time grow
    linearly with the number of windows. With refined start states and a start far from the
    optimum (loss above FAR_LOSS), the parameters travel first with the states held (each
    Jacobian then costs n candidates instead of n + nx); then they travel jointly with the states. An objective without window blocks (e.g. a `Subspace`) is handed to scipy's
    least_squares instead: MINPACK's "lm" inside the bounds, "trf" when its answer leaves them.

    Attributes:
      max_iterations: residual evaluations allowed to each solve (scipy's max_nfev).
      tolerance: relative change of the sum of squares, or of the scaled variables, at which a
        solve stops (scipy's ftol = xtol; gtol is 1e-8). A relative change of 1e-6 in the sum of
        squares is far below one standard error when there are thousands of residuals.
      first_tolerance: the same for the first solve, with start states held (when they are refined).
    """

    max_iterations: int = 30
    tolerance: float = 1e-6
    first_tolerance: float = 1e-4
    name: str = "lsq"
    local: bool = True

    def expected_evaluations(self, objective: Objective) -> int:
        """Evaluations the solves may spend at most: max_iterations residuals, each with a Jacobian."""
        n = getattr(objective, "n", objective.dim)
        nx = objective.shooting.nx if getattr(objective, "refine_states", False) else 0
        return self.max_iterations * (n + 1) + (self.max_iterations * (n + nx + 1) if nx else 0)

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        start = objective.evaluations
        x0 = np.clip(np.asarray(x0, float), objective.lower, objective.upper)
        if not hasattr(objective, "jacobian_chunks"):
            solution = self._solve(objective, x0, self.tolerance)
            return Outcome(solution.x, float(np.mean(solution.fun**2)), objective.evaluations - start, solution.message,
                           solution.jac, residuals=solution.fun)
        n = objective.n
        r0 = None
        if objective.dim > n:
            r0 = objective.residuals(x0[None])[0]
            if np.mean(r0**2) > FAR_LOSS:  # far from the optimum: the parameters travel first, states held
                x0[:n] = self._blocks(objective, x0, self.first_tolerance, states=False).x[:n]
                r0 = None
        solution = self._blocks(objective, x0, self.tolerance, states=True, r0=r0)
        return Outcome(solution.x, float(np.mean(solution.r**2)), objective.evaluations - start, solution.message,
                       residuals=solution.r)

    def _blocks(self, objective: Objective, x0: np.ndarray, tolerance: float, *, states: bool, gtol: float = 1e-8,
                r0: np.ndarray | None = None) -> blocks.Solution:
        """Levenberg-Marquardt from x0 (dim,) on the window blocks; `states=False` holds the start states.
        r0: the residuals at x0 when known."""
        n = objective.n
        nx = objective.shooting.nx if states and objective.refine_states else 0
        base = x0.copy()

        def full(x: np.ndarray) -> np.ndarray:
            if nx or objective.dim == n:
                return x
            out = base.copy()
            out[:n] = x
            return out

        def residuals(x: np.ndarray) -> np.ndarray:
            return objective.residuals(full(x)[None])[0]

        def build(x: np.ndarray, r: np.ndarray) -> blocks.BlockFactor:
            chunks = objective.jacobian_chunks(full(x), r, states=bool(nx))
            return blocks.factor(chunks, r, n=n, nx=nx, bounds=objective.shooting.entry_bounds)

        solution = blocks.levenberg_marquardt(residuals, build, x0 if nx or objective.dim == n else x0[:n], n=n, nx=nx,
                                              tolerance=tolerance, max_evaluations=self.max_iterations, gtol=gtol, r0=r0)
        return dataclasses.replace(solution, x=full(solution.x))

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
