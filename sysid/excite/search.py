"""The search over a family's coefficients: one CMA-ES per joint, all scored in the same batch.

A joint's motion informs mostly about that joint's own parameters (its damping, friction,
armature, its actuator's gain), so the coefficients are searched joint by joint: every
generation, each joint's CMA-ES proposes `popsize` coefficient blocks, candidate i combines the
i-th block of every joint, the whole generation is scored in one batch, and each joint's CMA-ES
is told the criterion of the marginal information about its own parameters (plus the
parameters that belong to no joint: masses, delay, ...). Six 12-dimensional searches converge
in far fewer evaluations than one 72-dimensional one. The best candidates by the full criterion
are kept; when the search scored only some of the fit windows, the best `RESCORE` of them are
scored again on every window and the best of those wins. Position servos following a joint
trajectory are searched both with bare targets and with feedforward (see `search`).
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

SEARCH_SHRINK = 10  # shrink steps of a candidate during the search
PENALTY = 10.0  # criterion penalty per unit of limit ratio above 1 in simulation
RESCORE = 6  # best candidates scored again on every window at the end of a search on some windows


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

    A family whose position servos may get feedforward (`FourierFamily.servo_feedforward`) is
    searched twice, half the evaluations each: with bare targets (the servos lag and ring, which
    informs, but couples the joints through the shrinking onto the limits) and with full
    feedforward (the motion is the planned one); the better plan wins.

    Returns the best (dim,) coefficients and the (evaluations, best criterion) history.
    """
    cfg, family = planner.config, planner.family
    njoint = len(planner.act.joints)
    start = family.initial(np.random.default_rng(cfg.seed)).reshape(njoint, -1)
    modes: list[float | None] = [None] if family.feedforward(start.ravel()) is None else [0.0, 1.0]
    history: list[tuple[int, float]] = []
    pools = []
    for k, mode in enumerate(modes):
        budget = cfg.evaluations // len(modes) + (cfg.evaluations % len(modes) if k == len(modes) - 1 else 0)
        pools.append(_run(planner, start if mode is None else start[:, :-1], mode, budget, prior, history, on_generation))
    if not any(pools):
        return start.ravel(), history
    if cfg.search_windows is not None and sum(len(pool) for pool in pools) > 1:
        thetas = np.stack([th for pool in pools for _, th in pool])
        full = _score(planner, thetas, prior, None)[0]
        return thetas[int(np.argmin(full))], history
    return min((entry for pool in pools for entry in pool), key=lambda entry: entry[0])[1], history


def _run(planner: Planner, start: np.ndarray, feedforward: float | None, budget: int, prior: np.ndarray | None,
         history: list[tuple[int, float]], on_generation: Callable[[int, float], None] | None) -> list[tuple[float, np.ndarray]]:
    """One CMA-ES per joint from `start` (J, per) for `budget` evaluations, each joint's block
    followed by a fixed `feedforward` fraction when not None; appends to `history` (a running
    best) and returns the RESCORE best (criterion, (dim,) coefficients)."""
    cfg = planner.config
    njoint, per = start.shape
    groups = joint_groups(planner.params, planner.act)
    popsize = cfg.popsize or max(8, 4 + int(3 * np.log(per)))
    searches = []
    for j in range(njoint):
        options = {"bounds": [0.0, 1.0], "popsize": popsize, "seed": cfg.seed * 100 + j + 1, "verbose": -9}
        if per == 1:
            options["maxstd"] = np.inf  # pycma's default breaks a bounded 1-D search
        searches.append(cma.CMAEvolutionStrategy(start[j], cfg.sigma0, options))
    pool: list[tuple[float, np.ndarray]] = []
    before = history[-1][1] if history else np.inf
    first = planner.evaluations
    while planner.evaluations - first < budget and not any(es.stop() for es in searches):
        blocks = np.stack([np.array(es.ask()) for es in searches], axis=1)  # (P, J, per)
        coefficients = blocks if feedforward is None else np.concatenate([blocks, np.full((popsize, njoint, 1), feedforward)], axis=2)
        thetas = coefficients.reshape(popsize, -1)
        full, info, ratios, ok = _score(planner, thetas, prior, cfg.search_windows)
        for j, es in enumerate(searches):
            score = marginal_criterion(info, groups[j], cfg.criterion) + PENALTY * (ratios[:, j] - 1.0).clip(min=0.0)
            es.tell(list(blocks[:, j]), list(np.where(ok & np.isfinite(score), score, BAD)))
        pool = sorted(pool + [(float(f), th.copy()) for f, th in zip(full, thetas)], key=lambda entry: entry[0])[:RESCORE]
        best = min(before, pool[0][0])
        history.append((planner.evaluations, best))
        if on_generation is not None:
            on_generation(planner.evaluations, best)
    return pool


def _score(planner: Planner, thetas: np.ndarray, prior: np.ndarray | None,
           windows: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shrink and score P candidates (P, dim): the full criterion plus the limit penalty (P,), the
    information (P, n, n), the worst limit ratio per joint (P, J) and (P,) False where one diverged."""
    _, out = planner.evaluate(planner.family, thetas, iterations=SEARCH_SHRINK, windows=windows)
    info = out["info"] + (0 if prior is None else prior)
    ratios = worst(out["ratios"])
    full = criterion(info, planner.config.criterion) + PENALTY * (ratios.max(axis=1) - 1.0).clip(min=0.0)
    return np.where(out["ok"] & np.isfinite(full), full, BAD), info, ratios, out["ok"]
