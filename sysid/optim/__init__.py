"""Optimizers behind one protocol (`sysid.optim.base.Optimizer`), chosen by name.

`--optimizer cmaes+lsq` runs CMA-ES over the horizon stages, then the least-squares polish.
"""

from __future__ import annotations

from sysid.errors import UserError
from sysid.optim.base import Optimizer, Outcome
from sysid.optim.cmaes import CMAES
from sysid.optim.lsq import LeastSquares

OPTIMIZERS: dict[str, type] = {"cmaes": CMAES, "lsq": LeastSquares}
AUTO = "cmaes+lsq"

__all__ = ["CMAES", "LeastSquares", "OPTIMIZERS", "Optimizer", "Outcome", "optimizer_chain"]


def optimizer_chain(spec: str, options: dict[str, dict] | None = None) -> list[Optimizer]:
    """Build the optimizers named by `spec` ("cmaes", "lsq", "cmaes+lsq" or "auto").

    Args:
      spec: names joined by "+", run in that order.
      options: per-optimizer keyword options from the fit config, e.g. {"cmaes": {"popsize": 16}}.
    """
    names = (AUTO if spec == "auto" else spec).split("+")
    options = options or {}
    chain = []
    for name in names:
        if name not in OPTIMIZERS:
            raise UserError(f"--optimizer: unknown optimizer {name!r}; choose from {', '.join([*OPTIMIZERS, 'auto'])} or join them with '+'")
        try:
            chain.append(OPTIMIZERS[name](**options.get(name, {})))
        except TypeError as error:
            raise UserError(f"config: options for optimizer {name!r}: {error}") from None
    return chain
