"""`--optimizer auto`: pick an optimizer chain from the problem and say why.

The rules, first match wins:

1. An evaluation budget under `SMALL_BUDGET` (`optimizer_options: {auto: {budget: N}}`) and
   at most 15 parameters: `bayes+lsq`. Bayesian optimisation spends each evaluation with care,
   least squares polishes.
2. A smooth loss (no frictionloss, joint limits or contacts in the model, no delay fitted, no
   actuator model in the loop),
   `jax` installed and a GPU visible to it: `cmaes+mjx`. CMA-ES finds the basin on short
   windows; exact MJX gradients over many windows in parallel pin the optimum.
3. Otherwise `cmaes+lsq`, the default: CMA-ES on short windows finds the basin whatever the
   loss's roughness, least squares with start-state refinement pins the optimum on long ones.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import mujoco
import numpy as np

from sysid.errors import UserError
from sysid.params import ParamSet

SMALL_BUDGET = 300  # candidate evaluations: below this CMA-ES cannot converge on a handful of parameters
MAX_BAYES_PARAMS = 15


@dataclasses.dataclass(frozen=True)
class Problem:
    """What `choose` looks at.

    Attributes:
      n_params: fitted parameters.
      rough: what makes the loss non-smooth (e.g. "frictionloss", "joint limits"); empty if smooth.
      budget: candidate evaluations allowed (None: no limit).
      gpu: a GPU is visible to jax (False when jax is not installed).
    """

    n_params: int
    rough: tuple[str, ...]
    budget: int | None
    gpu: bool


def describe(model: mujoco.MjModel, params: ParamSet, *, budget: int | None = None, closed_loop: bool = False) -> Problem:
    """Summarise the fit problem of `params` on `model` for `choose` (`closed_loop`: actuator models in the loop)."""
    rough = ["actuator models in the loop"] if closed_loop else []
    if np.any(model.dof_frictionloss > 0) or any(p.kind == "frictionloss" for p in params):
        rough.append("frictionloss")
    if np.any(model.jnt_limited):
        rough.append("joint limits")
    colliding = np.flatnonzero((model.geom_contype != 0) | (model.geom_conaffinity != 0))
    if model.npair > 0 or len(set(model.geom_bodyid[colliding])) > 1:
        rough.append("contacts")
    if params.delay_index is not None:
        rough.append("delay (no MJX gradient)")
    return Problem(len(params), tuple(rough), budget, not rough and _jax_gpu())


def _jax_gpu() -> bool:
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("mujoco.mjx") is None:
        return False
    import jax

    return jax.default_backend() != "cpu"


def choose(problem: Problem) -> tuple[str, str]:
    """The optimizer chain for `problem` and a one-line reason."""
    n = problem.n_params
    facts = [f"{n} parameter{'s' if n != 1 else ''}",
             f"non-smooth loss ({', '.join(problem.rough)})" if problem.rough else "smooth loss",
             f"budget {problem.budget} evaluations" if problem.budget is not None else "no evaluation budget",
             "GPU" if problem.gpu else "no GPU for MJX"]
    facts = ", ".join(facts)
    if problem.budget is not None and problem.budget < SMALL_BUDGET and n <= MAX_BAYES_PARAMS:
        return "bayes+lsq", (f"bayes+lsq ({facts}): a small budget is spent best by Bayesian optimisation, "
                             "then least squares polishes")
    if not problem.rough and problem.gpu:
        return "cmaes+mjx", (f"cmaes+mjx ({facts}): CMA-ES finds the basin on short windows, then exact MJX "
                             "gradients over all windows in parallel on the GPU")
    return "cmaes+lsq", (f"cmaes+lsq ({facts}): CMA-ES finds the basin on short windows whatever the loss's "
                         "roughness, then least squares with start-state refinement pins the optimum")


def auto_options(options: dict) -> int | None:
    """The `auto` entry of optimizer_options -> its budget (None: no limit). Raises UserError on other keys."""
    unknown = set(options) - {"budget"}
    if unknown:
        raise UserError(f"config: optimizer_options.auto: unknown option(s) {sorted(unknown)}; allowed: budget")
    budget = options.get("budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise UserError(f"config: optimizer_options.auto.budget must be a positive integer, got {budget!r}")
    return budget
