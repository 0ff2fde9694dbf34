"""Bounds that adapt: a parameter that ends at a default bound is searched again with that bound widened.

The default bounds (`sysid.params`: [value / 10, 10 x value] for positive kinds, [0, 10 x value]
for nonnegative ones) assume the model's value is within a factor of 10 of the truth. A public
model can be further off (a servo's kp 40x too high): the fit then ends at the bound, and the
value it reports is the bound, not an estimate. `adapt_bounds` refits such parameters with the
bound they reached moved by `WIDEN_FACTOR` (a log-scaled bound divided or multiplied by it, a
linear one moved to `WIDEN_FACTOR` x its distance from the initial value), at most `MAX_ROUNDS`
times, and never past the kind's physical limit (`PHYSICAL_LIMITS`). Each widening is reported
(`bounds_widened` in result.json).

Bounds the user set (`lower` / `upper` in the config's `params`) are kept: a parameter at one is
named with a suggestion (`at_user_bound`). A nonnegative parameter at a lower bound of 0 (no
friction, no delay) is a physical answer, not a bound problem. Kinds without a physical limit in
the table (actuator models' own numbers) keep their bounds and are named like user bounds.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sysid.fit import AT_BOUND, FitResult
from sysid.params import Param, ParamSet

WIDEN_FACTOR = 10.0
"""How far a default bound moves per round: x or / 10 (log-scaled), 10 x the distance from the initial value (linear)."""

MAX_ROUNDS = 2
"""Refits at most: a default bound can move by up to WIDEN_FACTOR ** MAX_ROUNDS (100x)."""

PHYSICAL_LIMITS: dict[str, tuple[float, float]] = {
    "damping": (0.0, 1e4),  # N m s/rad
    "frictionloss": (0.0, 1e4),  # N m
    "armature": (0.0, 100.0),  # kg m^2
    "stiffness": (0.0, 1e6),  # N m/rad
    "mass": (1e-6, 1e4),  # kg
    "inertia": (1e-3, 1e3),  # scale factor on the model's tensor
    "com": (-10.0, 10.0),  # m, body frame
    "kp": (1e-6, 1e6),  # N m/rad
    "kv": (0.0, 1e5),  # N m s/rad
    "gear": (-1e4, 1e4),
    "delay": (0.0, 0.5),  # s
}
"""Kind -> (lowest, highest) value a widened bound may reach (the kind's unit)."""


@dataclasses.dataclass(frozen=True)
class BoundCheck:
    """Where each parameter at a bound stands after the adaptation.

    Attributes:
      widened: one record per widening: name, side, from, to, round.
      at_user_bound: parameters still at a bound that cannot move (the user's, a physical limit,
        an actuator model's), each with a suggestion: name, side, bound, why, suggestion.
    """

    widened: tuple[dict, ...] = ()
    at_user_bound: tuple[dict, ...] = ()


def adapt_bounds(result: FitResult, refit: Callable[[ParamSet], FitResult], overrides: Mapping[str, Mapping[str, Any]], *,
                 model: Any = None, say: Callable[[str], None] | None = None) -> tuple[FitResult, BoundCheck]:
    """Refits while parameters end at default bounds that can still move; returns the last fit.

    The returned fit's evaluations, steps and times add up every search.

    Args:
      result: the fit with the default (or configured) bounds.
      refit: fits again with another ParamSet (same logs, config and actuator models).
      overrides: the config's `params` ({glob: {initial, lower, upper}}): the bounds the user set.
      model: the compiled input model (for the new ParamSet's writers).
      say: prints one line per widening.
    """
    widened: list[dict] = []
    for round_ in range(1, MAX_ROUNDS + 1):
        params, moves = _widen(result, overrides, round_)
        if not moves or result.interrupted:
            break
        widened.extend(moves)
        if say is not None:
            for m in moves:
                say(f"bounds: {m['name']} ended at its default {m['side']} bound {m['from']:.4g}; "
                    f"searching again with it at {m['to']:.4g} (round {round_})")
        again = refit(ParamSet(params, model=model))
        result = dataclasses.replace(  # the costs of every search add up
            again, evaluations=result.evaluations + again.evaluations, sim_steps=result.sim_steps + again.sim_steps,
            wall_time_s=result.wall_time_s + again.wall_time_s, rollout_time_s=result.rollout_time_s + again.rollout_time_s,
            rollout_calls=[*result.rollout_calls, *again.rollout_calls], gradient_steps=result.gradient_steps + again.gradient_steps)
    stuck = tuple(_stuck(result, overrides))
    if say is not None:
        for s in stuck:
            say(f"bounds: {s['name']} is at its {s['side']} bound {s['bound']:.4g} ({s['why']}): {s['suggestion']}")
    return result, BoundCheck(tuple(widened), stuck)


def _sides(result: FitResult) -> list[tuple[Param, str]]:
    """(param, "lower" | "upper") of each parameter at a bound, excluding a lower bound of 0."""
    u = result.params.to_unit(result.values)
    out = []
    for p, ui in zip(result.params, u):
        if ui <= AT_BOUND and p.lower != 0:
            out.append((p, "lower"))
        elif ui >= 1 - AT_BOUND:
            out.append((p, "upper"))
    return out


def _user_set(name: str, side: str, overrides: Mapping[str, Mapping[str, Any]]) -> bool:
    return any(side in entry for pattern, entry in overrides.items() if fnmatch.fnmatchcase(name, pattern))


def _moved(p: Param, side: str) -> float:
    """The bound on `side` of `p` widened once, clipped to the kind's physical limit."""
    lo_limit, hi_limit = PHYSICAL_LIMITS[p.kind]
    if side == "lower":
        value = p.lower / WIDEN_FACTOR if p.transform == "log" else p.initial - WIDEN_FACTOR * (p.initial - p.lower)
        return max(value, lo_limit)
    value = p.upper * WIDEN_FACTOR if p.transform == "log" else p.initial + WIDEN_FACTOR * (p.upper - p.initial)
    return min(value, hi_limit)


def _widen(result: FitResult, overrides: Mapping[str, Mapping[str, Any]], round_: int) -> tuple[list[Param], list[dict]]:
    params, moves = list(result.params), []
    for p, side in _sides(result):
        if p.kind not in PHYSICAL_LIMITS or _user_set(p.name, side, overrides):
            continue
        old = p.lower if side == "lower" else p.upper
        new = _moved(p, side)
        if np.isclose(new, old, rtol=1e-12, atol=0):
            continue
        params[params.index(p)] = dataclasses.replace(p, **{side: new})
        moves.append({"name": p.name, "side": side, "from": float(old), "to": float(new), "round": round_})
    return params, moves


def _stuck(result: FitResult, overrides: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    out = []
    for p, side in _sides(result):
        bound = p.lower if side == "lower" else p.upper
        wider = "lower" if side == "lower" else "higher"
        if _user_set(p.name, side, overrides):
            why, suggestion = "set in the config", f"if a {wider} value is physical, move '{side}' of {p.name} in the config's params"
        elif p.kind not in PHYSICAL_LIMITS:
            why, suggestion = "the actuator model's range", f"set '{side}' of {p.name} in the config's params if a {wider} value is physical"
        else:
            why = f"the physical limit of {p.kind}" if bound in PHYSICAL_LIMITS[p.kind] else f"widened {MAX_ROUNDS} times"
            suggestion = ("the logs push it past any plausible value: the model likely lacks an effect this parameter "
                          "absorbs; fix it (leave it out of --params) or add the missing structure")
        out.append({"name": p.name, "side": side, "bound": float(bound), "why": why, "suggestion": suggestion})
    return out
