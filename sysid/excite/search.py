"""The search over a family's coefficients: one CMA-ES per joint, all scored in the same batch.

A joint's motion informs mostly about that joint's own parameters (its damping, friction,
armature, its actuator's gain), so the coefficients are searched joint by joint: every
generation, each joint's CMA-ES proposes `popsize` coefficient blocks, candidate i combines the
i-th block of every joint, the whole generation is scored in one batch, and each joint's CMA-ES
is told the criterion of the marginal information about its own parameters (plus the
parameters that belong to no joint: masses, delay, ...). Six 12-dimensional searches converge
in far fewer evaluations than one 72-dimensional one. The best candidate is kept by the full
criterion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import cma
import numpy as np

from sysid.excite.information import BAD, Criterion, criterion
from sysid.excite.limits import worst
from sysid.params import KINDS, ParamSet

if TYPE_CHECKING:
    from sysid.excite.actuation import Actuation
    from sysid.excite.design import Planner

SEARCH_SHRINK = 4  # shrink steps of a candidate during the search
PENALTY = 10.0  # criterion penalty per unit of limit ratio above 1 in simulation


def joint_groups(params: ParamSet, act: Actuation) -> list[np.ndarray]:
    """(J,) index arrays: the parameters of each actuated joint (its joint's and its actuator's)
    and those of no joint; a joint without parameters of its own gets all of them."""
    owner = []
    for p in params:
        element = KINDS[p.kind].element
        if element == "joint" and p.target in act.joints:
            owner.append(act.joints.index(p.target))
        elif element == "actuator" and p.target in act.actuators:
            owner.append(act.actuators.index(p.target))
        else:
            owner.append(-1)
    owner = np.array(owner)
    groups = []
    for j in range(len(act.joints)):
        mine = np.flatnonzero((owner == j) | (owner == -1))
        groups.append(mine if np.any(owner == j) else np.arange(len(params)))
    return groups


def marginal_criterion(info: np.ndarray, index: np.ndarray, kind: Criterion) -> np.ndarray:
    """(P, n, n) information -> (P,) criterion of the marginal information about `index`
    (the Schur complement: the other parameters are estimated too)."""
    rest = np.setdiff1d(np.arange(info.shape[-1]), index)
    block = info[:, index[:, None], index]
    if rest.size:
        cross = info[:, index[:, None], rest]
        block = block - cross @ np.linalg.pinv(info[:, rest[:, None], rest]) @ np.swapaxes(cross, 1, 2)
    return criterion(block, kind)


def search(planner: Planner, *, prior: np.ndarray | None = None,
           on_generation: Callable[[int, float], None] | None = None) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Search `planner.family`'s coefficients for the most informative plan.

    Returns the best (dim,) coefficients and the (evaluations, best criterion) history.
    """
    cfg, family = planner.config, planner.family
    njoint = len(planner.act.joints)
    per = family.dim // njoint
    groups = joint_groups(planner.params, planner.act)
    start = family.initial(np.random.default_rng(cfg.seed)).reshape(njoint, per)
    popsize = cfg.popsize or max(8, 4 + int(3 * np.log(per)))
    searches = []
    for j in range(njoint):
        options = {"bounds": [0.0, 1.0], "popsize": popsize, "seed": cfg.seed * 100 + j + 1, "verbose": -9}
        if per == 1:
            options["maxstd"] = np.inf  # pycma's default breaks a bounded 1-D search
        searches.append(cma.CMAEvolutionStrategy(start[j], cfg.sigma0, options))
    history: list[tuple[int, float]] = []
    best_theta, best = start.ravel(), np.inf
    first = planner.evaluations
    while planner.evaluations - first < cfg.evaluations and not any(es.stop() for es in searches):
        blocks = np.stack([np.array(es.ask()) for es in searches], axis=1)  # (P, J, per)
        thetas = blocks.reshape(popsize, -1)
        _, out = planner.evaluate(family, thetas, iterations=SEARCH_SHRINK, windows=cfg.search_windows)
        info = out["info"] + (0 if prior is None else prior)
        ratios = worst(out["ratios"])  # (P, J)
        full = criterion(info, cfg.criterion) + PENALTY * (ratios.max(axis=1) - 1.0).clip(min=0.0)
        full = np.where(out["ok"] & np.isfinite(full), full, BAD)
        for j, es in enumerate(searches):
            score = marginal_criterion(info, groups[j], cfg.criterion) + PENALTY * (ratios[:, j] - 1.0).clip(min=0.0)
            es.tell(list(blocks[:, j]), list(np.where(out["ok"] & np.isfinite(score), score, BAD)))
        if full.min() < best:
            best, best_theta = float(full.min()), thetas[int(np.argmin(full))].copy()
        history.append((planner.evaluations, best))
        if on_generation is not None:
            on_generation(planner.evaluations, best)
    return best_theta, history
