"""`Objective`: what every optimizer minimises — batched residuals of a decision vector.

The decision vector is x = [u, s]: u (n,) the parameters in the normalised unit box of
`ParamSet`, and, when start states are refined, s (W * nx,) the offsets of every window's
start state in units of its noise level. The residual vector holds the shooting loss's
normalised residuals, then one residual per Gaussian prior (`sysid.priors`). The objective
counts evaluations, keeps the best point seen (so Ctrl-C can still return it) and reports
progress. `Subspace` exposes some coordinates of an objective as an objective of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

from sysid.loss import ShootingLoss
from sysid.priors import Priors

FD_STEP_PARAM = 1e-6  # forward-difference step in u (the unit box)
FD_STEP_STATE = 1e-3  # forward-difference step in s (noise standard deviations)
EXPLAINED_LOSS = 2.0  # a loss (mean squared residual in noise units) this low means the model explains the logs


@dataclasses.dataclass(frozen=True)
class JacobianChunk:
    """The Jacobian rows of windows [w0, w1): residual rows [e0, e1).

    Attributes:
      ju: (e1 - e0, n) derivatives with respect to the parameters (unit box).
      js: (e1 - e0, nx) derivatives with respect to the start-state offsets of each row's own
        window, or None when start states are not refined (and for the rows of priors).
    """

    w0: int
    w1: int
    e0: int
    e1: int
    ju: np.ndarray
    js: np.ndarray | None


class Objective:
    """Residuals r(x) of a stage's shooting loss; loss(x) = mean(r^2).

    Args:
      loss: the stage's shooting loss.
      refine_states: also optimise every window's start state (adds W * nx variables).
      priors: Gaussian priors, appended to the residuals (MAP estimate).
      final: no optimizer runs after this stage, so the optimizer should converge fully.
      on_evaluate: called with (evaluations so far, best loss so far) after each batch.

    `batch`, when set, scores large batches of `loss` elsewhere (`sysid.distributed`: Ray actors);
    each candidate's loss is the same number either way.
    """

    def __init__(self, loss: ShootingLoss, *, refine_states: bool = False, priors: Priors | None = None,
                 final: bool = False, on_evaluate: Callable[[int, float], None] | None = None):
        self.shooting = loss
        self.final = final
        self.priors = priors if priors is not None else Priors.none()
        self.params = loss.sim.params
        self.n = len(self.params)
        self.refine_states = refine_states
        self.n_state = loss.n_windows * loss.nx if refine_states else 0
        self.dim = self.n + self.n_state
        self.lower = np.concatenate([np.zeros(self.n), np.full(self.n_state, -np.inf)])
        self.upper = np.concatenate([np.ones(self.n), np.full(self.n_state, np.inf)])
        self.m = loss.m + len(self.priors)
        # (m,) which signal each residual belongs to (-1: a prior, whose scale is known).
        self.groups = np.concatenate([loss.windows.entry_signal, np.full(len(self.priors), -1)])
        self.evaluations = 0
        self.best_x: np.ndarray | None = None
        self.best_loss = np.inf
        self.on_evaluate = on_evaluate
        self.batch: Callable[[Objective, np.ndarray], np.ndarray | None] | None = None

    def start(self, u: np.ndarray) -> np.ndarray:
        """(n,) parameters in the unit box -> (dim,) decision vector with zero state offsets."""
        return np.concatenate([u, np.zeros(self.n_state)])

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """(B, dim) decision vectors -> (B, m) normalised residuals (batched rollouts of bounded size)."""
        x = np.atleast_2d(x)
        values = self.params.from_unit(x[:, : self.n])
        offsets = x[:, self.n :].reshape(len(x), self.shooting.n_windows, self.shooting.nx) if self.refine_states else None
        r = self.shooting.residuals(values, offsets)
        if len(self.priors):
            r = np.concatenate([r, self.priors.residuals(values)], axis=1)
        self._record(x, np.mean(r**2, axis=1))
        return r

    def loss(self, x: np.ndarray) -> np.ndarray:
        """(B, dim) -> (B,) mean squared normalised residual."""
        losses = self.batch(self, x) if self.batch is not None else None  # None: a batch too small to send
        if losses is not None:
            self._record(np.atleast_2d(x), losses)
            return losses
        return np.mean(self.residuals(x) ** 2, axis=1)

    def jacobian_chunks(self, x: np.ndarray, r: np.ndarray, *, states: bool = True) -> Iterator[JacobianChunk]:
        """The forward-difference Jacobian at x (dim,) (with r = residuals(x)), a few windows at a time.

        A window's residuals depend only on its own start state, so the offsets of one state
        entry in all windows are perturbed together in a single candidate: the batch holds
        n + nx candidates however many windows there are, rolled out over a bounded number of
        windows at a time (`ShootingLoss.chunks`). Yields the data rows window after window; the
        rows of priors (which depend on the parameters only) come last, with no state block.
        `states=False` leaves out the start-state blocks and costs n candidates.
        """
        n, nx, shooting = self.n, self.shooting.nx, self.shooting
        states = states and self.refine_states
        steps = np.where(x[:n] + FD_STEP_PARAM <= 1.0, FD_STEP_PARAM, -FD_STEP_PARAM)
        batch = np.repeat(x[None], n + (nx if states else 0), axis=0)
        batch[np.arange(n), np.arange(n)] += steps
        if states:
            for k in range(nx):
                batch[n + k, n + k :: nx] += FD_STEP_STATE
        values = self.params.from_unit(batch[:, :n])
        squares = np.zeros(len(batch))
        for w0, w1 in shooting.chunks(len(batch)):
            offsets = batch[:, n:].reshape(len(batch), shooting.n_windows, nx)[:, w0:w1] if self.refine_states else None
            e0, e1 = shooting.entry_bounds[w0], shooting.entry_bounds[w1]
            perturbed = shooting.residuals(values, offsets, windows=(w0, w1))
            squares += np.sum(perturbed**2, axis=1)
            diff = perturbed - r[None, e0:e1]
            ju = (diff[:n] / steps[:, None]).T
            js = (diff[n:] / FD_STEP_STATE).T if states else None
            yield JacobianChunk(w0, w1, e0, e1, ju, js)
        m_data = shooting.m
        if len(self.priors):
            rp = self.priors.residuals(values)
            squares += np.sum(rp**2, axis=1)
            yield JacobianChunk(shooting.n_windows, shooting.n_windows, m_data, self.m, ((rp[:n] - r[None, m_data:]) / steps[:, None]).T, None)
        self._record(batch, squares / self.m)

    def jacobian(self, x: np.ndarray, r: np.ndarray, *, states: bool = True) -> np.ndarray:
        """(m, dim) dense forward-difference Jacobian at x (with r = residuals(x)); see `jacobian_chunks`.

        Its size grows with the square of the number of windows when start states are refined:
        the least-squares polish and the uncertainty use the window blocks instead
        (`sysid.optim.blocks`).
        """
        nx, window = self.shooting.nx, self.shooting.windows.entry_window
        jac = np.zeros((self.m, self.dim))
        for chunk in self.jacobian_chunks(x, r, states=states):
            rows = slice(chunk.e0, chunk.e1)
            jac[rows, : self.n] = chunk.ju
            if chunk.js is not None:
                for k in range(nx):
                    jac[np.arange(chunk.e0, chunk.e1), self.n + window[rows] * nx + k] = chunk.js[:, k]
        return jac

    def _record(self, x: np.ndarray, losses: np.ndarray) -> None:
        self.evaluations += len(x)
        i = int(np.argmin(losses))
        if losses[i] < self.best_loss:
            self.best_loss, self.best_x = float(losses[i]), x[i].copy()
        if self.on_evaluate is not None:
            self.on_evaluate(self.evaluations, self.best_loss)


class StateProjection:
    """Removes from residuals what the window start-state offsets can explain, to first order.

    Built from the Jacobian of an objective with refined start states (`Objective.jacobian_chunks`):
    each window's block of state columns J_w (rows of window w, its nx offsets) is split by its SVD. Then
    `project(r)` = (I - P) r, P the orthogonal projection on the columns of every J_w: the
    residuals after the best offsets (variable projection). Rows of priors are left as they are.
    """

    def __init__(self, objective: Objective, chunks: Iterator[JacobianChunk]):
        bounds, nx = objective.shooting.entry_bounds, objective.shooting.nx
        self.blocks = []  # (rows, U, S, V^T) of each window's state columns, near-zero directions dropped
        for chunk in chunks:
            for w in range(chunk.w0, chunk.w1):
                rows = slice(bounds[w], bounds[w + 1])
                u, sv, vt = np.linalg.svd(chunk.js[bounds[w] - chunk.e0 : bounds[w + 1] - chunk.e0], full_matrices=False)
                keep = sv > max(sv.max(initial=0.0), 1e-300) * 1e-8
                self.blocks.append((rows, u[:, keep], sv[keep], vt[keep]))
        self.nx = nx

    @classmethod
    def at(cls, objective: Objective, x: np.ndarray) -> "StateProjection":
        """The projection at x (dim,): n + nx candidates' rollouts for the Jacobian."""
        return cls(objective, objective.jacobian_chunks(x, objective.residuals(x[None])[0]))

    def project(self, r: np.ndarray) -> np.ndarray:
        """(..., m) residuals -> (I - P) r."""
        r = np.array(r, float)
        for rows, basis, _, _ in self.blocks:
            r[..., rows] -= (r[..., rows] @ basis) @ basis.T
        return r

    def offsets(self, r: np.ndarray) -> np.ndarray:
        """(m,) residuals -> (W * nx,) the Gauss-Newton step of the start-state offsets that
        removes P r (least squares per window)."""
        step = np.zeros((len(self.blocks), self.nx))
        for w, (rows, basis, sv, vt) in enumerate(self.blocks):
            step[w] = -vt.T @ ((basis.T @ r[rows]) / sv)
        return step.ravel()


class Subspace:
    """Some coordinates of an objective as an objective of their own (the others held at `base`).

    Used to hand a few parameters to another optimizer, e.g. those whose gradients MJX cannot
    compute go to CMA-ES. Has the attributes and methods optimizers use: dim, lower, upper,
    evaluations, loss, residuals.

    Args:
      objective: the full objective.
      free: (k,) indices of the free coordinates in the full decision vector.
      base: (dim,) values of all coordinates; the free ones are replaced by the candidate's.
    """

    def __init__(self, objective: Objective, free: np.ndarray, base: np.ndarray):
        self.objective, self.free, self.base = objective, np.asarray(free, int), np.asarray(base, float).copy()
        self.dim = self.n = len(self.free)
        self.lower, self.upper = objective.lower[self.free], objective.upper[self.free]
        self.m = objective.m
        self.final = True  # the coordinates handed over are not polished by anyone else

    @property
    def evaluations(self) -> int:
        return self.objective.evaluations

    def full(self, x: np.ndarray) -> np.ndarray:
        """(B, k) free coordinates -> (B, dim) full decision vectors."""
        x = np.atleast_2d(x)
        out = np.repeat(self.base[None], len(x), axis=0)
        out[:, self.free] = x
        return out

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self.objective.residuals(self.full(x))

    def loss(self, x: np.ndarray) -> np.ndarray:
        return np.mean(self.residuals(x) ** 2, axis=1)

    def jacobian(self, x: np.ndarray, r: np.ndarray) -> np.ndarray:
        """(m, k) Jacobian of the free coordinates, which must all be parameters (not start states)."""
        if np.any(self.free >= self.objective.n):
            raise ValueError("a Subspace's Jacobian is only defined on parameter coordinates")
        return self.objective.jacobian(self.full(x)[0], r, states=False)[:, self.free]
