"""Held-out error as what a fit reports and chooses by: folds, cross-validation, candidate structures.

A fit that wins on its own logs proves little; what matters is prediction on runs it never saw.
`sysid fit --cv K` splits the logs into K folds (leave-logs-out, or K contiguous time blocks of a
single log), fits on each fold's training part and scores the fitted and the initial model on
the held-out part at every horizon (`sysid.validate.validation_report`). Candidate structures
(parameter sets, actuator models, horizons, shrinkage strengths: `--structures`, `--shrink auto`)
are ranked by that held-out score, and the best one is fitted on all the data.

The fitting itself is the caller's (`FitOne`): this module knows folds, scores and choices, not files.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mujoco
import numpy as np

from sysid.data import Log
from sysid.errors import UserError
from sysid.optim import NONE
from sysid.validate import OPEN, selection_score, validation_report

# Strengths `--shrink auto` chooses from (0: none). The data term holds thousands of residuals, so a
# restraint that matters needs strengths far above 1: at 1e3 a parameter moves a few % of its range
# only when that buys a sizeable share of the initial misfit.
SHRINK_GRID = (0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
ONE_SE, BEST = "1se", "best"  # `--select`: how a candidate is chosen from held-out scores (`choose`)
RULES = (ONE_SE, BEST)
COMMAND_LINE = "command line"  # the structure of the command line's own --params / --actuator
INITIAL = "initial model"  # the ranking's row that keeps the initial values (nothing fitted)
MIN_FOLD_ROWS = 4


@dataclasses.dataclass(frozen=True)
class Fold:
    """One cross-validation fold.

    Attributes:
      train: the logs (or pieces of a log) the fold fits on.
      held: the logs (or the block) it is scored on; `held_names` labels them.
      split: "logs" (leave-logs-out) or "time" (contiguous blocks of one log).
    """

    train: tuple[Log, ...]
    held: tuple[Log, ...]
    held_names: tuple[str, ...]
    split: str = "logs"


@dataclasses.dataclass(frozen=True)
class Structure:
    """A candidate model structure: what is fitted and how.

    Attributes:
      name: its label in the ranking.
      params: the `--params` text.
      actuator: the `--actuator` text, or None.
      run: FitConfig fields that differ from the base config (horizons, shrink, ...).
    """

    name: str
    params: str
    actuator: str | None = None
    run: Mapping[str, Any] = dataclasses.field(default_factory=dict)


FitOne = Callable[..., tuple[Any, Any]]  # (structure, logs, *, quiet, choose=None) -> (FitResult, ClosedLoop | None)
# [(structure, logs)] -> [(FitResult, ClosedLoop | None)], the held-out fits side by side (`sysid.distributed`)
FitMany = Callable[[list[tuple[Structure, Sequence[Log]]]], list[tuple[Any, Any]]]


def _fit_all(fit_one: FitOne, jobs: list[tuple[Structure, Sequence[Log]]], labels: Sequence[str], *,
             fit_many: FitMany | None, progress: Callable[[str], None] | None) -> list[tuple[Any, Any]]:
    """The held-out fits of `jobs` (quiet), one after another, or all at once through `fit_many`."""
    if fit_many is not None:
        if progress:
            progress(f"{len(jobs)} held-out fits side by side on Ray ({labels[0]}, ...)")
        return fit_many(jobs)
    out = []
    for (structure, train), label in zip(jobs, labels):
        if progress:
            progress(label)
        out.append(fit_one(structure, list(train), quiet=True))
    return out


def make_folds(logs: Sequence[Log], names: Sequence[str], k: int) -> list[Fold]:
    """K folds: by log when there are several logs (fold i holds out logs i, i + K, ...), else K
    contiguous time blocks of the one log (fold i holds out block i and fits on the rest)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise UserError(f"--cv {k!r}: the number of folds must be an integer of at least 2")
    if len(logs) >= 2:
        if k > len(logs):
            raise UserError(f"--cv {k}: {len(logs)} logs make at most {len(logs)} folds (each fold holds out whole logs)")
        return [Fold(tuple(log for j, log in enumerate(logs) if j % k != i), tuple(logs[i::k]), tuple(names[i::k]))
                for i in range(k)]
    log, name = logs[0], names[0]
    edges = np.searchsorted(log.time, log.time[0] + log.duration * np.arange(k + 1) / k)
    edges[-1] = len(log.time) - 1
    folds = []
    for i in range(k):
        a, b = int(edges[i]), int(edges[i + 1])
        if b - a + 1 < MIN_FOLD_ROWS:
            raise UserError(f"--cv {k}: fold {i + 1} of {name} would hold {b - a + 1} rows ({log.duration / k:.3g} s); "
                            f"use fewer folds or a longer log")
        # Pieces share their boundary row, as `--val` does, so no row is lost between them.
        pieces = [(0, a + 1), (b, len(log.time))]
        train = tuple(log.slice(lo, hi) for lo, hi in pieces if hi - lo >= MIN_FOLD_ROWS)
        if not train:
            raise UserError(f"--cv {k}: fold {i + 1} of {name} leaves nothing to fit on")
        folds.append(Fold(train, (log.slice(a, b + 1),), (f"{name} [{log.time[a] - log.time[0]:.3g}-{log.time[b] - log.time[0]:.3g} s]",), "time"))
    return folds


def score_held_out(model: mujoco.MjModel, result: Any, loop: Any, logs: Sequence[Log], names: Sequence[str],
                   horizons: Sequence[str], *, nthread: int | None = None) -> dict:
    """`validation_report` of a fit on held-out logs, plus its `score` (`selection_score`)."""
    report = validation_report(model, result.params, result.params.initial, result.values, logs, horizon=result.horizon,
                               nthread=nthread, names=names, loop=loop, horizons=horizons)
    report["score"] = selection_score(report["by_horizon"])
    report["score_initial"] = selection_score(report["by_horizon"], key="score_initial")
    return report


OnFold = Callable[[Structure, int, Fold, Any, Any], None]  # (structure, fold index, fold, FitResult, ClosedLoop | None)


def cross_validate(fit_one: FitOne, structure: Structure, folds: Sequence[Fold], model: mujoco.MjModel,
                   horizons: Sequence[str], *, nthread: int | None = None, progress: Callable[[str], None] | None = None,
                   fit_many: FitMany | None = None, on_fold: OnFold | None = None) -> dict:
    """result.json's `cv`: per fold the held-out error of the initial and fitted model at every
    horizon, their mean and spread over folds, and every fold/log/horizon where the fit predicts
    worse than the initial model. `fit_many`: fits the folds side by side (Ray); `on_fold` sees
    every fold's fit (e.g. to draw its predictions)."""
    fold_reports = []
    fits = _fit_all(fit_one, [(structure, fold.train) for fold in folds],
                    [f"cross-validation: {structure.name} fold {i + 1}/{len(folds)}" for i in range(len(folds))],
                    fit_many=fit_many, progress=progress)
    for i, (fold, (result, loop)) in enumerate(zip(folds, fits)):
        report = score_held_out(model, result, loop, fold.held, fold.held_names, horizons, nthread=nthread)
        if on_fold is not None:
            on_fold(structure, i, fold, result, loop)
        fold_reports.append({"held_out": list(fold.held_names), "by_horizon": report["by_horizon"], "score": report["score"],
                             "score_initial": report["score_initial"], "worse_than_initial": report["worse_than_initial"],
                             "params": dict(zip(result.params.names, map(float, result.values)))})
    every = list(fold_reports[0]["by_horizon"])
    summary = {}
    for h in every:
        per = [f["by_horizon"][h] for f in fold_reports]
        signals = list(per[0]["fitted"])
        summary[h] = {
            "fitted": {s: float(np.mean([p["fitted"][s] for p in per])) for s in signals},
            "initial": {s: float(np.mean([p["initial"][s] for p in per])) for s in signals},
            "fitted_std": {s: float(np.std([p["fitted"][s] for p in per])) for s in signals},
            "score_fitted": float(np.mean([p["score_fitted"] for p in per])),
            "score_fitted_std": float(np.std([p["score_fitted"] for p in per])),
            "score_initial": float(np.mean([p["score_initial"] for p in per])),
        }
    worse = [{"fold": i + 1, **w} for i, f in enumerate(fold_reports) for w in f["worse_than_initial"]]
    return {"k": len(folds), "split": folds[0].split, "structure": structure.name, "folds": fold_reports,
            "by_horizon": summary, "score": selection_score(summary), "score_initial": selection_score(summary, key="score_initial"),
            "worse_than_initial": worse}


def rank_structures(fit_one: FitOne, structures: Sequence[Structure], model: mujoco.MjModel, horizons: Sequence[str], *,
                    folds: Sequence[Fold] | None = None, train: Sequence[Log] = (), held: Sequence[Log] = (),
                    held_names: Sequence[str] = (), nthread: int | None = None, rule: str = BEST,
                    progress: Callable[[str], None] | None = None, fit_many: FitMany | None = None,
                    on_fold: OnFold | None = None) -> tuple[Structure, list[dict], dict]:
    """Score every candidate structure on held-out data and choose one (`choose`, by `rule`).

    Returns (the chosen structure, the ranking [{name, params, actuator, run, score, score_se,
    score_initial, n_params[, cv]}] lowest score first with the initial model as one more row,
    {name: fit kept for reuse}). With `folds`, each candidate's score is its cross-validated score
    and `score_se` its standard error over folds; else each is fitted on `train` and scored on
    `held` (`score_se` 0; that fit is returned for reuse). `fit_many`: fits side by side (Ray);
    `on_fold`: see `cross_validate`.
    """
    if folds is None and not held:
        raise UserError("choosing among candidate structures needs held-out data: add --cv K, --val FRACTION or --val-log")
    names = [s.name for s in structures]
    if len(set(names)) != len(names):
        raise UserError(f"candidate structures need unique names, got {names}")
    if rule not in RULES:
        raise UserError(f"--select {rule!r}: choose from {', '.join(RULES)}")
    if INITIAL in names:
        raise UserError(f"candidate structures: {INITIAL!r} is the name of the initial model's row; rename that candidate")
    rows, kept = [], {}
    fits = None if folds is not None else _fit_all(fit_one, [(s, train) for s in structures],
                                                   [f"candidate {s.name}: fitting" for s in structures],
                                                   fit_many=fit_many, progress=progress)
    for i, s in enumerate(structures):
        cv = None
        if folds is not None:
            cv = cross_validate(fit_one, s, folds, model, horizons, nthread=nthread, progress=progress, fit_many=fit_many,
                                on_fold=on_fold)
            score, initial = cv["score"], cv["score_initial"]
            se, se_initial = (_standard_error([f[key] for f in cv["folds"]]) for key in ("score", "score_initial"))
            n_params = len(cv["folds"][0]["params"])
        else:
            result, loop = fits[i]
            report = score_held_out(model, result, loop, held, held_names, horizons, nthread=nthread)
            score, initial, se, se_initial = report["score"], report["score_initial"], 0.0, 0.0
            n_params = len(result.params)
            kept[s.name] = (result, loop)
        rows.append({"name": s.name, "params": s.params, "actuator": s.actuator, "run": dict(s.run), "score": score,
                     "score_se": se, "score_initial": initial, "score_initial_se": se_initial, "n_params": n_params,
                     **({"cv": cv} if cv is not None else {})})
    # Keeping the initial values is a candidate too: the best initial model among the structures
    # (they differ when actuator models do), nothing fitted.
    start = min(range(len(rows)), key=lambda i: _finite(rows[i]["score_initial"]))
    s = structures[start]
    run = {**{k: v for k, v in s.run.items() if k != "shrink"}, "optimizer": NONE, "starts": 1}
    initial_row = {"name": INITIAL, "params": s.params, "actuator": s.actuator, "run": run,
                   "score": rows[start]["score_initial"], "score_se": rows[start]["score_initial_se"],
                   "score_initial": rows[start]["score_initial"], "n_params": 0}
    rows.insert(0, initial_row)  # first: on a tie the initial model is kept
    chosen = choose(rows, rule)
    ranking = sorted(rows, key=lambda r: _finite(r["score"]))
    for row in ranking:
        row["chosen"] = row is chosen
    structure = (Structure(INITIAL, s.params, s.actuator, initial_row["run"]) if chosen is initial_row
                 else next(c for c in structures if c.name == chosen["name"]))
    return structure, ranking, kept


def choose(rows: Sequence[dict], rule: str = BEST) -> dict:
    """The row to keep: "best" (the default) is the lowest held-out score; "1se" is the simplest row
    whose score is within one standard error of the lowest (fewest fitted parameters, then the
    strongest shrinkage, then the order given), the usual guard against choosing by fold noise when
    there are enough folds to estimate that error (with 2 or 3 it is mostly the folds' own spread)."""
    best = min(rows, key=lambda r: _finite(r["score"]))
    if rule == BEST or not np.isfinite(best["score"]):
        return best
    limit = best["score"] + best.get("score_se", 0.0)
    close = [r for r in rows if r["score"] <= limit]
    return min(close, key=lambda r: (r["n_params"], -r["run"].get("shrink", 0.0)))


def _standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean over folds (0 for one fold; inf when a fold diverged)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return 0.0
    return float(np.std(v, ddof=1) / np.sqrt(len(v))) if np.all(np.isfinite(v)) else float("inf")


def _finite(x: float) -> float:
    return x if np.isfinite(x) else np.inf


def shrink_structures(base: Structure, grid: Sequence[float] = SHRINK_GRID) -> list[Structure]:
    """`--shrink auto`: the base structure at every shrinkage strength of the grid."""
    prefix = "" if base.name == COMMAND_LINE else f"{base.name}, "  # unique names when several structures are shrunk
    return [dataclasses.replace(base, name=f"{prefix}shrink {s:g}", run={**base.run, "shrink": float(s)}) for s in grid]


def load_structures(path: str | os.PathLike, base: Structure, *, keys: Sequence[str]) -> list[Structure]:
    """Read `--structures FILE`: a YAML list of candidates, each {name, params, actuator, FitConfig keys}.

        candidates:
          - {name: viscous, params: "damping"}
          - {name: coulomb+viscous, params: "damping,frictionloss"}
          - {name: short windows, params: "damping,frictionloss", horizons: [0.25, 0.5]}

    A key a candidate leaves out takes the command line's value (`base`). `keys`: FitConfig fields.
    """
    from sysid.inputs import load_yaml

    raw = load_yaml(path, what="structures file")
    items = raw.get("candidates") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise UserError(f"{path}: expected 'candidates:' with a list of {{name, params, ...}}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise UserError(f"{path}: candidate {i + 1} must be a mapping with a 'name'")
        unknown = sorted(set(item) - {"name", "params", "actuator", *keys})
        if unknown:
            raise UserError(f"{path}: candidate {item['name']!r}: unknown key(s) {', '.join(unknown)}; "
                            f"allowed: name, params, actuator, {', '.join(keys)}")
        params = item.get("params", base.params)
        if not isinstance(params, str) or not params.strip():
            raise UserError(f"{path}: candidate {item['name']!r}: 'params' must be text like \"damping,frictionloss\"")
        run = {k: v for k, v in item.items() if k in keys}
        out.append(Structure(item["name"], params, item.get("actuator", base.actuator), {**base.run, **run}))
    return out


def describe_worse(worse: Sequence[dict], *, where: str) -> list[str]:
    """One warning per (log, horizon) where the fit predicts held-out data worse than the initial model."""
    out = []
    for w in worse:
        span = "open loop" if w["horizon"] == OPEN else f"{w['horizon']} s windows"
        fold = f" (fold {w['fold']})" if "fold" in w else ""
        out.append(f"{where}{fold}: the fitted model predicts {w['log']} worse than the initial model over {span} "
                   f"(score {w['fitted']:.3g} vs {w['initial']:.3g} in noise units); the fit may be compensating for something "
                   f"the model lacks: try --shrink auto, fewer parameters, or --structures")
    return out
