"""Bayesian optimisation (optuna's Gaussian-process sampler) on the unit box, a batch per rollout call."""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from typing import Literal

import numpy as np

from sysid.errors import UserError
from sysid.objective import Objective, Subspace
from sysid.optim.base import Outcome

MAX_PARAMS = 15  # a GP surrogate needs far more trials than this budget past ~15 dimensions


@dataclasses.dataclass(frozen=True)
class Bayes:
    """Gaussian-process Bayesian optimisation for a few parameters and an expensive loss.

    optuna's `GPSampler` (Matern 5/2 kernel with one length scale per parameter, log expected
    improvement) models log(loss) over the unit box, which is already log-scaled for positive
    parameters, so the bounds and the scaling hold by construction. Each round asks `batch`
    candidates at once (the sampler's q-batch acquisition treats the pending ones as running
    trials) and evaluates them in one batched rollout, so every rollout thread has work. The
    first trial is the start point. Window start-state offsets, if the objective has them, stay
    at their start values.

    The GP's own cost grows with the trials (seconds per batch past 100 trials on 2 busy CPU
    cores), which is right when one evaluation is expensive (long logs, big models) and wrong
    when it is cheap: `sampler: tpe` (optuna's multivariate TPE, milliseconds per trial) is
    the fast alternative, and the fallback, with a warning, when torch is not installed
    (`pip install sysid[torch]`).

    Attributes:
      max_evaluations: trials per call (each one candidate evaluation).
      batch: candidates asked per rollout call.
      startup_trials: random trials before the model takes over.
      sampler: "gp" (Gaussian process) or "tpe" (tree-structured Parzen estimator).
    """

    max_evaluations: int = 120
    batch: int = 4
    startup_trials: int = 12
    sampler: Literal["gp", "tpe"] = "gp"
    name: str = "bayes"
    local: bool = False

    def __post_init__(self):
        if self.sampler not in ("gp", "tpe"):
            raise UserError(f"config: optimizer_options.bayes.sampler must be 'gp' or 'tpe', got {self.sampler!r}")
        if self.batch < 1 or self.max_evaluations < 1:
            raise UserError("config: optimizer_options.bayes: batch and max_evaluations must be at least 1")

    def minimize(self, objective: Objective, x0: np.ndarray, *, seed: int) -> Outcome:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        n = getattr(objective, "n", objective.dim)
        full = objective
        if objective.dim > n:  # start-state offsets: held at x0, the GP searches the parameters only
            objective = Subspace(full, np.arange(n), x0)
        if n > MAX_PARAMS:
            warnings.warn(f"bayes: {n} variables is past what a Gaussian process handles well (~{MAX_PARAMS}); "
                          "cmaes or cmaes+lsq will do better", stacklevel=2)
        use_gp = self.sampler == "gp" and importlib.util.find_spec("torch") is not None
        if self.sampler == "gp" and not use_gp:
            warnings.warn("bayes: torch is not installed, so optuna's GP sampler is unavailable; using TPE "
                          "instead (pip install 'sysid[torch]' for the GP)", stacklevel=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's experimental-feature notices
            if use_gp:
                sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=self.startup_trials,
                                                    deterministic_objective=True, warn_independent_sampling=False)
            else:
                sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.startup_trials,
                                                     multivariate=True, constant_liar=True)
        study = optuna.create_study(sampler=sampler)
        space = {f"u{i}": optuna.distributions.FloatDistribution(float(objective.lower[i]), float(objective.upper[i]))
                 for i in range(n)}
        study.enqueue_trial({f"u{i}": float(np.clip(x0[i], objective.lower[i], objective.upper[i])) for i in range(n)})
        start = objective.evaluations
        best_x, best_loss = np.asarray(x0, float), np.inf
        while objective.evaluations - start < self.max_evaluations:
            size = min(self.batch, self.max_evaluations - (objective.evaluations - start))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trials = [study.ask(space) for _ in range(size)]
            candidates = np.array([[t.params[f"u{i}"] for i in range(n)] for t in trials])
            losses = objective.loss(candidates)
            for trial, value in zip(trials, losses):
                study.tell(trial, float(np.log(max(value, 1e-300))))
            i = int(np.argmin(losses))
            if losses[i] < best_loss:
                best_x, best_loss = candidates[i], float(losses[i])
        sampler_name = type(sampler).__name__
        if objective is not full:
            best_x = objective.full(best_x)[0]
        return Outcome(best_x, best_loss, objective.evaluations - start, f"{sampler_name}: {len(study.trials)} trials")
