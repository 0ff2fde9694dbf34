"""Gradient descent on the shooting loss differentiated through MuJoCo MJX (`pip install sysid[mjx]`)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np
from scipy import optimize

from sysid.errors import UserError
from sysid.objective import Objective, Subspace
from sysid.optim.base import Outcome
from sysid.optim.cmaes import CMAES

GRADIENT_RTOL = 0.1  # MJX and finite-difference gradients further apart than this: not trusted


def check_gradients(names: list[str], mjx_grad: np.ndarray, fd_grad: np.ndarray, differentiable: np.ndarray) -> dict[str, str]:
    """Parameters whose MJX gradient cannot be trusted, with the reason.

    Args:
      names: (n,) parameter names.
      mjx_grad: (n,) d loss / d u through MJX at the start point.
      fd_grad: (n,) the same from finite differences of the CPU (mujoco.rollout) loss.
      differentiable: (n,) False where MJX has no gradient for the parameter at all (delay).
    Returns:
      {name: reason} for gradients that are missing, NaN, zero where the finite difference is
      not, or further than GRADIENT_RTOL from it (frictionloss, joint limits and contacts
      make the loss non-smooth, and gradients through them can be any of these).
    """
    scale = max(float(np.max(np.abs(fd_grad))), 1e-12)
    bad = {}
    for name, g, fd, ok in zip(names, mjx_grad, fd_grad, differentiable):
        if not ok:
            bad[name] = "no MJX gradient"
        elif not np.isfinite(g):
            bad[name] = "NaN gradient"
        elif g == 0 and abs(fd) > 1e-6 * scale:
            bad[name] = "zero gradient"
        elif abs(g - fd) > GRADIENT_RTOL * abs(fd) + 1e-3 * scale:
            bad[name] = f"gradient {g:.3g} vs finite difference {fd:.3g}"
    return bad


@dataclasses.dataclass(frozen=True)
class MJX:
    """Gradient-based fit through `mujoco.mjx` (JAX), on a GPU when JAX has one.

    Each gradient is exact (forward-mode AD through the rollouts of all windows, `MjxLoss`).
    Before descending, the MJX gradient at the start point is checked against finite
    differences of the CPU loss (one batched rollout); parameters whose gradient is NaN, zero
    or wrong (`check_gradients`) are named in a warning and fitted by CMA-ES instead, in rounds
    alternating with gradient descent on the others.

    Attributes:
      max_steps: gradient evaluations per round.
      method: "lbfgs" (scipy's L-BFGS-B: bounds built in, and no reverse-mode pass, which MJX's
        constraint solver does not support) or "adam" (optax, projected on the bounds).
      learning_rate: Adam's step, in unit-box units (parameters) or noise levels (start states).
      tolerance: L-BFGS-B stops when the loss improves by less than this, relatively.
      fallback_evaluations: CMA-ES budget per round for the parameters MJX cannot differentiate.
      rounds: at most this many rounds of CMA-ES on those, then gradients on the others (the
        two sets are coupled), until the loss improves by less than 0.01%.
    """

    max_steps: int = 200
    method: Literal["lbfgs", "adam"] = "lbfgs"
    learning_rate: float = 0.01
    tolerance: float = 1e-10
    fallback_evaluations: int = 300
    rounds: int = 10
    name: str = "mjx"
    local: bool = True

    def __post_init__(self):
        if self.method not in ("lbfgs", "adam"):
            raise UserError(f"config: optimizer_options.mjx.method must be 'lbfgs' or 'adam', got {self.method!r}")

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        try:
            from sysid.mjx_loss import MjxLoss
        except ImportError as error:
            raise UserError(f"the mjx optimizer needs jax and mujoco-mjx ({error}); pip install 'sysid[mjx]'") from None
        start = objective.evaluations
        x = np.clip(np.asarray(x0, float), objective.lower, objective.upper)
        loss = MjxLoss(objective, x)
        n = objective.n
        _, grad = loss.value_and_grad(x)
        r = objective.residuals(x[None])[0]
        fd_grad = 2.0 * objective.jacobian(x, r)[:, :n].T @ r / objective.m
        bad = check_gradients(objective.params.names, grad[:n], fd_grad, loss.differentiable)
        rough = np.array([name in bad for name in objective.params.names])
        if bad:
            warnings.warn("mjx: " + "; ".join(f"{k}: {v}" for k, v in bad.items()) + ". Frictionloss, joint limits "
                          "and contacts can make MJX gradients zero, NaN or wrong; CMA-ES fits these parameters "
                          "instead", stacklevel=2)
        smooth = np.concatenate([np.flatnonzero(~rough), np.arange(n, objective.dim)])
        x = self._descend(loss, objective, x, smooth)
        # Block-coordinate rounds: CMA-ES on the rough parameters, gradients on the rest.
        best = np.inf
        for _ in range(self.rounds if rough.any() else 0):
            sub = Subspace(objective, np.flatnonzero(rough), x)
            cma = CMAES(sigma0=0.2, final_max_evaluations=self.fallback_evaluations, final_tolx=1e-3)
            x = sub.full(cma.minimize(sub, x[sub.free], seed=seed).x)[0]
            x = self._descend(loss, objective, x, smooth)
            value = float(objective.loss(x[None])[0])
            if value > best * (1 - 1e-4):
                break
            best = value
        final = float(objective.loss(x[None])[0])
        message = f"{loss.gradient_steps} gradient steps ({self.method})"
        if bad:
            message += f", CMA-ES for {', '.join(bad)}"
        return Outcome(x, final, objective.evaluations - start, message, gradient_steps=loss.gradient_steps)

    def _descend(self, loss, objective: Objective, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Minimise over the coordinates `free` of x (the others held) with MJX gradients."""
        x = x.copy()

        def value_and_grad(y: np.ndarray) -> tuple[float, np.ndarray]:
            x[free] = y
            value, grad = loss.value_and_grad(x)
            if not np.isfinite(value):
                return 1e300, np.zeros(len(free))
            return value, np.nan_to_num(grad[free])

        lower, upper = objective.lower[free], objective.upper[free]
        if self.method == "lbfgs":
            bounds = optimize.Bounds(lower, upper)
            result = optimize.minimize(value_and_grad, x[free], jac=True, method="L-BFGS-B", bounds=bounds,
                                       options={"maxiter": self.max_steps, "maxfun": self.max_steps, "ftol": self.tolerance})
            x[free] = result.x
            return x
        import optax

        adam = optax.adam(self.learning_rate)
        y, state = x[free].copy(), adam.init(x[free])
        best_y, best = y.copy(), np.inf
        for _ in range(self.max_steps):
            value, grad = value_and_grad(y)
            if value < best:
                best_y, best = y.copy(), value
            updates, state = adam.update(grad, state)
            y = np.clip(y + np.asarray(updates), lower, upper)
        x[free] = best_y
        return x
