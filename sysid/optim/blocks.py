"""Block-structured least squares: shared parameters and one small block of states per window.

The polish stage's Jacobian has n parameter columns and, when start states are refined, nx
columns per window that only that window's rows touch (the arrow shape of bundle adjustment).
`factor` folds the Jacobian, a few windows at a time, into one small QR factor per window
(R of [Js_w | Ju_w | r_w], (nx + n + 1) square) plus one factor of the rows without states
(priors, or every row when states are held). A damped Gauss-Newton step then eliminates each
window's states from its factor (a QR of its R with the damping rows), stacks what is left on
the parameters, and solves that: memory and time grow linearly with the number of windows, and
the step is the one a QR of the whole (dense) damped Jacobian gives. `levenberg_marquardt` is a
Levenberg-Marquardt loop on these factors, keeping the parameters in their box.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import numpy as np

from sysid.objective import JacobianChunk, Objective
from sysid.uncertainty import Uncertainty, parameter_uncertainty, signal_weights

LAMBDA0 = 1e-3  # initial damping, relative to the squared column norms (Marquardt scaling)


@dataclasses.dataclass(frozen=True)
class BlockFactor:
    """QR factors of a least-squares system [J | r] whose rows are grouped by window.

    Attributes:
      windows: (W, k, k), k = nx + n + 1: R of each window's rows [Js_w | Ju_w | r_w] (zero rows
        pad windows with fewer than k rows); (0, k, k) when there are no state blocks.
      shared: (n + 1, n + 1): R of the rows without state columns [Ju | r].
      nx: state columns per window; n: parameter columns.
    """

    windows: np.ndarray
    shared: np.ndarray
    nx: int
    n: int

    def gradient(self) -> tuple[np.ndarray, np.ndarray]:
        """J^T r as (n,) for the parameters and (W, nx) for the window states."""
        nx, n = self.nx, self.n
        g = np.einsum("wij,wi->wj", self.windows, self.windows[:, :, -1])
        g_u = g[:, nx : nx + n].sum(axis=0) + self.shared[:, :n].T @ self.shared[:, -1]
        return g_u, g[:, :nx]

    def column_norms(self) -> tuple[np.ndarray, np.ndarray]:
        """Norms of J's columns: (n,) parameters, (W, nx) states."""
        squares = np.sum(self.windows**2, axis=1)
        d_u = np.sqrt(squares[:, self.nx : self.nx + self.n].sum(axis=0) + np.sum(self.shared[:, : self.n] ** 2, axis=0))
        return d_u, np.sqrt(squares[:, : self.nx])

    def model_cost(self, du: np.ndarray, ds: np.ndarray) -> float:
        """||J [du; ds] + r||^2 for a step du (n,), ds (W, nx)."""
        z = np.concatenate([ds, np.broadcast_to(du, (len(ds), self.n)), np.ones((len(ds), 1))], axis=1)
        windows = np.einsum("wij,wj->wi", self.windows, z)
        shared = self.shared @ np.append(du, 1.0)
        return float(np.sum(windows**2) + shared @ shared)

    def eliminate(self, damping_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eliminate every window's states, each damped by rows diag(damping_s[w]) (W, nx).

        Returns:
          T: (W, k, k) the windows' factors after the damping rows were folded in; its first nx
            rows give a window's states from the parameters' step.
          reduced: ((W + 1) (n + 1), n + 1) rows of [Ju | r] left on the parameters
            (the Schur complement, as a factor), the shared rows last.
        """
        nx, n = self.nx, self.n
        wcount, k = len(self.windows), self.windows.shape[-1]
        damping = np.zeros((wcount, nx, k))
        damping[:, np.arange(nx), np.arange(nx)] = damping_s
        t = np.linalg.qr(np.concatenate([self.windows, damping], axis=1), mode="r") if wcount else np.zeros((0, k, k))
        reduced = np.concatenate([t[:, nx:, nx:].reshape(-1, n + 1), self.shared])
        return t, reduced

    def step(self, lam: float, d_u: np.ndarray, d_s: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Levenberg-Marquardt step: argmin ||J delta + r||^2 + lam ||D delta||^2, the parameters
        outside `free` (n,) held.

        Args:
          lam: damping; d_u (n,), d_s (W, nx): the scales D of the parameters and states.
        Returns:
          du (n,), ds (W, nx).
        """
        nx, n = self.nx, self.n
        t, reduced = self.eliminate(np.sqrt(lam) * d_s)
        cols = np.append(np.flatnonzero(free), n)
        rows = np.zeros((len(cols) - 1, len(cols)))
        rows[:, : len(cols) - 1] = np.diag(np.sqrt(lam) * d_u[free])
        r_u = np.linalg.qr(np.concatenate([reduced[:, cols], rows]), mode="r")
        du = np.zeros(n)
        du[free] = -_solve_upper(r_u[:-1, :-1], r_u[:-1, -1])
        if nx == 0:
            return du, np.zeros((len(t), 0))
        rhs = t[:, :nx, nx : nx + n] @ du + t[:, :nx, -1]
        ds = -np.linalg.solve(t[:, :nx, :nx], rhs[:, :, None])[:, :, 0]
        return du, ds

    def parameter_factor(self, *, tiny: float = 1e-10) -> np.ndarray:
        """(n, n) R factor of the parameters' information with the states marginalised out: R^T R
        is the Schur complement J_u^T J_u - J_u^T J_s (J_s^T J_s)^-1 J_s^T J_u. A state no row
        sees is pinned by a damping of `tiny` times the largest column norm."""
        d_u, d_s = self.column_norms()
        scale = tiny * max(float(d_u.max(initial=0.0)), float(d_s.max(initial=0.0)), 1e-300)
        _, reduced = self.eliminate(np.full(d_s.shape, scale))
        return np.linalg.qr(reduced, mode="r")[: self.n, : self.n]


def _solve_upper(r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve the upper-triangular system r x = b (a zero pivot gives a zero component)."""
    x = np.zeros(len(b))
    for i in range(len(b) - 1, -1, -1):
        pivot = r[i, i]
        x[i] = (b[i] - r[i, i + 1 :] @ x[i + 1 :]) / pivot if pivot != 0 else 0.0
    return x


def factor(chunks: Iterable[JacobianChunk], r: np.ndarray, *, n: int, nx: int, bounds: np.ndarray,
           weights: np.ndarray | None = None) -> BlockFactor:
    """Fold Jacobian chunks (`Objective.jacobian_chunks`) and residuals r (m,) into a `BlockFactor`.

    Args:
      n, nx: parameter columns and state columns per window (0: no state blocks).
      bounds: (W + 1,) window w's rows are bounds[w]:bounds[w + 1].
      weights: (m,) optional row weights (each row of J and r is multiplied by its weight).
    """
    k = nx + n + 1
    windows: list[np.ndarray] = []
    shared = np.zeros((0, n + 1))
    for chunk in chunks:
        rows = slice(chunk.e0, chunk.e1)
        w = 1.0 if weights is None else weights[rows, None]
        if chunk.js is None:
            block = np.concatenate([chunk.ju, r[rows, None]], axis=1) * w
            shared = np.linalg.qr(np.concatenate([shared, block]), mode="r")
            continue
        block = np.concatenate([chunk.js, chunk.ju, r[rows, None]], axis=1) * w
        counts = np.diff(bounds[chunk.w0 : chunk.w1 + 1])
        out = np.zeros((chunk.w1 - chunk.w0, k, k))
        for count in np.unique(counts):  # windows of one length are factored together
            which = np.flatnonzero(counts == count)
            starts = bounds[chunk.w0 + which] - chunk.e0
            stack = block[starts[:, None] + np.arange(count)[None, :]]  # (windows, count, k)
            factor_rows = np.linalg.qr(stack, mode="r")
            out[which, : factor_rows.shape[1]] = factor_rows
        windows.append(out)
    square = np.zeros((n + 1, n + 1))
    square[: min(len(shared), n + 1)] = shared[: n + 1]
    return BlockFactor(np.concatenate(windows) if windows else np.zeros((0, k, k)), square, nx, n)


@dataclasses.dataclass(frozen=True)
class Solution:
    """What `levenberg_marquardt` returns: x (dim,), r (m,), its evaluations and why it stopped."""

    x: np.ndarray
    r: np.ndarray
    evaluations: int
    message: str


def levenberg_marquardt(residuals: Callable[[np.ndarray], np.ndarray], build: Callable[[np.ndarray, np.ndarray], BlockFactor],
                        x0: np.ndarray, *, n: int, nx: int, tolerance: float, max_evaluations: int, gtol: float = 1e-8,
                        r0: np.ndarray | None = None) -> Solution:
    """Minimise ||r(x)||^2 over x = [u (n,) in [0, 1]^n, window states (W * nx,), free].

    Args:
      residuals: (dim,) -> (m,); build: (x, r) -> the `BlockFactor` of the Jacobian at x.
      tolerance: stop when a step lowers the cost by less than this fraction of it, or moves the
        scaled variables by less than this fraction of their norm (scipy's ftol and xtol).
      max_evaluations: residual evaluations allowed (scipy's max_nfev).
      gtol: stop when every free scaled gradient component is this small (scipy's gtol).
      r0: residuals(x0) when the caller has them (then not counted as an evaluation).
    Column scaling follows MINPACK (the largest column norms seen so far); the damping follows
    Nielsen's rule. A parameter on a bound whose gradient pushes outward is held for the step.
    """
    x = np.array(x0, float)
    x[:n] = np.clip(x[:n], 0.0, 1.0)
    r = residuals(x) if r0 is None else r0
    cost, evaluations = float(r @ r), int(r0 is None)
    block = build(x, r)
    d_u, d_s = (np.where(d > 0, d, 1.0) for d in block.column_norms())  # MINPACK: a zero column scales as 1
    lam, nu = LAMBDA0, 2.0
    message = "the evaluation budget is spent"
    while evaluations < max_evaluations:
        g_u, g_s = block.gradient()
        u = x[:n]
        free = ~(((u <= 0.0) & (g_u > 0)) | ((u >= 1.0) & (g_u < 0)))
        scaled = np.concatenate([np.abs(g_u[free]) / d_u[free], (np.abs(g_s) / d_s).ravel()])
        if cost == 0 or scaled.max(initial=0.0) <= gtol * np.sqrt(cost):
            message = "the gradient is zero (gtol)"
            break
        du, ds = block.step(lam, d_u, d_s, free)
        du = np.clip(u + du, 0.0, 1.0) - u
        trial = x.copy()
        trial[:n] += du
        trial[n:] += ds.ravel()
        predicted = cost - block.model_cost(du, ds)
        r_trial = residuals(trial)
        evaluations += 1
        cost_trial = float(r_trial @ r_trial)
        ratio = (cost - cost_trial) / predicted if predicted > 0 else -1.0
        step_norm = np.sqrt(np.sum((d_u * du) ** 2) + np.sum((d_s * ds) ** 2))
        x_norm = np.sqrt(np.sum((d_u * x[:n]) ** 2) + np.sum((d_s.ravel() * x[n:]) ** 2))
        if ratio > 1e-4:
            reduction = cost - cost_trial
            x, r, cost = trial, r_trial, cost_trial
            lam *= max(1.0 / 3.0, 1.0 - (2.0 * ratio - 1.0) ** 3)
            nu = 2.0
            if reduction < tolerance * (cost + reduction) and ratio > 0.25:
                message = "the cost changes by less than ftol"
                break
            if step_norm < tolerance * (tolerance + x_norm):
                message = "the step is below xtol"
                break
            if evaluations >= max_evaluations:
                break
            block = build(x, r)
            new_u, new_s = block.column_norms()
            d_u, d_s = np.maximum(d_u, new_u), np.maximum(d_s, new_s)
        else:
            lam *= nu
            nu *= 2.0
            if step_norm < tolerance * (tolerance + x_norm) or lam > 1e16:
                message = "no step lowers the cost (the damping grew without success)"
                break
    return Solution(x, r, evaluations, message)


def block_uncertainty(objective: Objective, x: np.ndarray, r: np.ndarray) -> Uncertainty:
    """`sysid.uncertainty.uncertainty` of objective's parameters at x (dim,), r (m,) = residuals(x),
    from the window blocks: one Jacobian, rows weighted per signal, start states marginalised out."""
    weights = signal_weights(r, objective.groups, objective.dim)
    nx = objective.shooting.nx if objective.refine_states else 0
    block = factor(objective.jacobian_chunks(x, r), r, n=objective.n, nx=nx, bounds=objective.shooting.entry_bounds,
                   weights=weights)
    values = objective.params.from_unit(x[: objective.n])
    return parameter_uncertainty(objective.params, values, block.parameter_factor(), r, m=objective.m, dim=objective.dim)
