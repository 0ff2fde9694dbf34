"""The optimizer protocol: one method, `minimize(objective, x0, *, seed) -> Outcome`.

An optimizer is a small frozen dataclass of its options. `local = False` marks a global
search (run on every horizon stage, parameters only); `local = True` marks a refinement near
a start point (run on the final stage, with window start states refined when configured).
A new optimizer is one new file with one such class, registered in `sysid.optim.OPTIMIZERS`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sysid.objective import Objective


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an optimizer returns.

    Attributes:
      x: (dim,) best decision vector found.
      loss: its mean squared normalised residual.
      evaluations: candidate evaluations (one rollout batch member each) it spent.
      message: why it stopped.
      jacobian: (m, dim) Jacobian at x when the optimizer computed one, else None.
      gradient_steps: gradient evaluations of a differentiable simulator (mjx), else 0.
      residuals: (m,) residuals at x when the optimizer has them, else None.
    """

    x: np.ndarray
    loss: float
    evaluations: int
    message: str
    jacobian: np.ndarray | None = None
    gradient_steps: int = 0
    residuals: np.ndarray | None = None


class Optimizer(Protocol):
    name: str
    local: bool

    def minimize(self, objective: "Objective", x0: np.ndarray, *, seed: int) -> Outcome:
        """Minimise objective.loss from x0 (dim,) inside [objective.lower, objective.upper]."""
        ...
