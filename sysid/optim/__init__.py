"""Optimizers behind one protocol (`sysid.optim.base.Optimizer`), chosen by name.

`--optimizer cmaes+lsq` runs CMA-ES over the horizon stages, then the least-squares polish;
`--optimizer auto` lets `sysid.optim.auto` pick a chain from the problem. A new optimizer is
one file with one frozen dataclass and one line in OPTIMIZERS.
"""

from __future__ import annotations

import mujoco

from sysid.errors import UserError
from sysid.inputs import checked_fields, excerpt
from sysid.optim import auto
from sysid.optim.base import Optimizer, Outcome
from sysid.optim.bayes import Bayes
from sysid.optim.cmaes import CMAES
from sysid.optim.lsq import LeastSquares
from sysid.optim.mjx import MJX
from sysid.params import ParamSet

OPTIMIZERS: dict[str, type] = {
    "cmaes": CMAES,
    "lsq": LeastSquares,
    "bayes": Bayes,
    "mjx": MJX,
}
AUTO = "cmaes+lsq"  # what "auto" means when there is no problem to look at
NONE = "none"  # no search: the initial values are kept and evaluated (the "initial model" candidate of a selection)

__all__ = ["CMAES", "MJX", "OPTIMIZERS", "Bayes", "LeastSquares", "Optimizer", "Outcome", "optimizer_chain", "select_optimizers"]


def optimizer_chain(spec: str, options: dict[str, dict] | None = None) -> list[Optimizer]:
    """Build the optimizers named by `spec` ("cmaes", "lsq", "cmaes+lsq", "bayes", "mjx", ...).

    Args:
      spec: names joined by "+", run in that order ("auto" without a problem: AUTO); "none" is the
        empty chain: the fit keeps the initial values and only evaluates them (loss, RMSE, uncertainty).
      options: per-optimizer keyword options from the fit config, e.g. {"cmaes": {"popsize": 16}}.
    """
    if spec == NONE:
        return []
    names = (AUTO if spec == "auto" else spec).split("+")
    options = options or {}
    chain = []
    for name in names:
        if name not in OPTIMIZERS:
            raise UserError(f"--optimizer: unknown optimizer {excerpt(name)}; choose from {', '.join([*OPTIMIZERS, 'auto', NONE])} or join them with '+'")
        settings = checked_fields(OPTIMIZERS[name], options.get(name), where=f"config: optimizer_options: {name}")
        try:
            chain.append(OPTIMIZERS[name](**settings))
        except (TypeError, ValueError) as error:
            raise UserError(f"config: options for optimizer {name!r}: {str(error)[:200]}") from None
    return chain


def select_optimizers(spec: str, options: dict[str, dict] | None, model: mujoco.MjModel, params: ParamSet, *,
                      closed_loop: bool = False) -> tuple[list[Optimizer], str]:
    """The optimizer chain for a fit and why: `spec` as given, or auto's pick for this problem.

    `closed_loop`: actuator models or residual dynamics run inside the rollouts (MJX cannot).

    Returns:
      the chain and a one-line reason ("chosen with --optimizer / config" unless auto chose).
    """
    options = options or {}
    if spec != "auto":
        return optimizer_chain(spec, options), "chosen in the command line or config"
    budget = auto.auto_options(options.get("auto", {}))
    chosen, reason = auto.choose(auto.describe(model, params, budget=budget, closed_loop=closed_loop))
    return optimizer_chain(chosen, options), "auto: " + reason
