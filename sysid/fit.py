"""`fit`: logs + model + parameters -> `FitResult` (values, uncertainty, history).

The schedule: global optimizers (CMA-ES) run on short windows first, then on longer ones,
so a long log cannot trap the search in a local minimum; local optimizers (least squares)
then polish on the longest windows, optionally refining every window's start state, since
a window started from a noisy measured state biases the fit. Standard errors come from the
Jacobian at the optimum.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from sysid.data import Log
from sysid.errors import UserError
from sysid.loss import ROBUST_LOSSES, ShootingLoss, Windows
from sysid.memory import check_memory
from sysid.objective import EXPLAINED_LOSS, Objective
from sysid.optim.blocks import block_uncertainty
from sysid.optim import NONE, select_optimizers
from sysid.priors import ExtraResiduals, Priors, check_priors
from sysid.progress import Progress
from sysid.params import ParamSet
from sysid.sim import Simulator, single_threaded_blas
from sysid.track import Track, bind_log
from sysid.uncertainty import Uncertainty

if TYPE_CHECKING:
    from sysid.closedloop import ClosedLoop
    from sysid.distributed import RayBackend

logger = logging.getLogger(__name__)
POOR_FIT_LOSS = 10.0  # mean squared residual in noise units above which a fit is reported as poor
PROBE_ITERATIONS = 10  # residual evaluations of the local probe (`FitConfig.local_first`)


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """How a fit runs. Every field can be set in the YAML `--config` file.

    Attributes:
      horizons: s, window lengths of the stages, shortest first. Global optimizers search on
        every stage but the last; local optimizers polish on the last, which uses every window.
      max_windows: windows kept per earlier stage (evenly spread), to bound their cost. Each
        candidate is scored on all of them in one batched rollout, so a CMA-ES generation's
        simulation outweighs its Python work (pycma's ask and tell, the residuals).
      optimizer: "cmaes", "lsq", "cmaes+lsq", "auto", or "none" (keep and evaluate the initial values).
      optimizer_options: per-optimizer keyword options, e.g. {"cmaes": {"popsize": 16}}.
      refine_states: refine window start states in the polish stage.
      seed: seeds every random choice of the fit.
      nthread: rollout threads (None: all usable cores).
      actuators: options of `--actuator` models: "control_dt" (s) and per "MODEL@TARGET" settings,
        "fit", "per_log", "enable" (see `sysid.closedloop.parse_actuators`).
      priors: Gaussian priors {name or glob: {mean, std}} in the parameters' units (`sysid.priors`):
        the fit becomes a MAP estimate.
      starts: independent fits from seeds seed, seed + 1, ...; the one with the lowest final loss on
        the fitted logs is kept (for rugged losses, e.g. long open-loop horizons), or the one `fit`'s
        `choose` prefers (the lowest held-out error, when the fit has held-out data).
      shrink: strength of the shrinkage toward the initial values (`sysid.priors`): 0 none; s > 0
        makes moving every parameter across its whole range cost s times the initial misfit.
      local_first: before a global search, least squares tries the first stage from the start
        (PROBE_ITERATIONS residual evaluations); when its loss is within EXPLAINED_LOSS of the
        noise level it found the basin, and the global search is skipped (the polish follows).
      loss: "linear" (least squares on the normalised residuals) or a robust loss against outliers,
        "huber", "soft_l1" or "cauchy" (`sysid.loss.robust_residuals`; quadratic up to 3 noise levels).
    """

    horizons: tuple[float, ...] = (0.25, 1.0)
    max_windows: int = 32
    optimizer: str = "cmaes+lsq"
    optimizer_options: dict = dataclasses.field(default_factory=dict)
    refine_states: bool = True
    seed: int = 0
    nthread: int | None = None
    actuators: dict = dataclasses.field(default_factory=dict)
    priors: dict = dataclasses.field(default_factory=dict)
    starts: int = 1
    shrink: float = 0.0
    local_first: bool = True
    loss: str = "linear"

    def __post_init__(self):
        check_run_options(self)
        check_priors(self.priors)
        if not self.horizons or any(h <= 0 for h in self.horizons):
            raise UserError(f"config: horizons must be positive seconds, got {list(self.horizons)}")
        if list(self.horizons) != sorted(self.horizons):
            raise UserError(f"config: horizons must grow (short windows first), got {list(self.horizons)}")
        if self.max_windows < 1:
            raise UserError(f"config: max_windows must be at least 1, got {self.max_windows}")
        if self.starts < 1:
            raise UserError(f"config: starts must be at least 1, got {self.starts}")
        if isinstance(self.shrink, bool) or not isinstance(self.shrink, (int, float)) or not 0 <= self.shrink < np.inf:
            raise UserError(f"config: shrink must be a number >= 0 (0: none), got {self.shrink!r}")


def check_run_options(config: FitConfig) -> None:
    """Types and ranges of FitConfig's fields (from a config file or the command line), each a one-line UserError."""
    from sysid.inputs import checked_fields, excerpt
    from sysid.optim import OPTIMIZERS

    def whole(name: str, low: int, high: int, *, none: bool = False) -> None:
        value = getattr(config, name)
        if (value is None and none) or (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            return
        raise UserError(f"config: {name} must be at least {low} and at most {high} (a whole number{' or null' if none else ''}), "
                        f"got {excerpt(value)}")

    whole("seed", 0, 2**32 - 1)
    whole("max_windows", 1, 10**6)
    whole("starts", 1, 10**4)
    whole("nthread", 1, 4096, none=True)
    if not isinstance(config.horizons, tuple) or not all(isinstance(h, (int, float)) and not isinstance(h, bool)
                                                         and np.isfinite(h) for h in config.horizons):
        raise UserError(f"config: horizons must be a list of finite seconds, got {excerpt(config.horizons)}")
    if not isinstance(config.refine_states, bool):
        raise UserError(f"config: refine_states must be true or false, got {excerpt(config.refine_states)}")
    if config.loss not in ROBUST_LOSSES:
        raise UserError(f"config: loss must be one of {', '.join(ROBUST_LOSSES)}, got {excerpt(config.loss)}")
    if not isinstance(config.optimizer, str):
        raise UserError(f"config: optimizer must be a name like cmaes+lsq, got {excerpt(config.optimizer)}")
    for key, name in (("optimizer_options", "optimizer names"), ("actuators", "actuator items")):  # priors: check_priors
        if not isinstance(getattr(config, key), dict):
            raise UserError(f"config: {key} must map {name} to settings, got {excerpt(getattr(config, key))}")
    for name, options in config.optimizer_options.items():
        if name not in OPTIMIZERS and name != "auto":
            raise UserError(f"config: optimizer_options: unknown optimizer {excerpt(name)}; optimizers: {', '.join(OPTIMIZERS)}, auto")
        if name != "auto":  # every optimizer's options, also of one this fit does not run
            checked_fields(OPTIMIZERS[name], options, where=f"config: optimizer_options: {name}")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """The outcome of a fit.

    Attributes:
      params: the fitted parameter set (with initial values and bounds).
      values: (n,) fitted values.
      uncertainty: standard errors, intervals and correlations at the optimum.
      loss_initial, loss_final: mean squared normalised residual over the polish stage's windows,
        started from the filtered logged states, at the initial and fitted values.
      rmse_initial, rmse_final: per-signal RMSE over the same windows (signal units).
      horizon: s, window length of those numbers.
      evaluations: candidate evaluations; sim_steps: model steps simulated.
      wall_time_s: the fit's wall time; rollout_time_s: the part spent inside mujoco.rollout.
      history: (evaluations, best loss, stage label) after each batch.
      stages: one line per stage: optimizer, horizon, windows, evaluations, loss, stop reason.
      interrupted: True when Ctrl-C stopped the search early (values are the best so far).
      optimizer: the optimizer chain that ran, e.g. "cmaes+lsq".
      tracks, windows: the bound logs and the polish stage's windows.
      simulated: (2, m) simulated window entries at the initial and fitted values (NaN where diverged).
      rollout_calls: (nbatch, nstep) of every mujoco.rollout call the fit made.
      optimizer_reason: why this optimizer chain (auto's choice, or the user's).
      gradient_steps: loss gradients evaluated through MJX (the mjx optimizer), else 0.
      starts: (seed, final loss) of every start when `FitConfig.starts` > 1; evaluations, steps and
        times then add up all starts.
      at_bound: names of the parameters that ended at a bound of their search box.
      warnings: the fit's warnings (each once), already issued through `warnings.warn`.
      robust_std: (n,) standard errors that admit correlated residuals (model error), where the
        objective provides them (`--objective inverse`), else None.
    """

    params: ParamSet
    values: np.ndarray
    uncertainty: Uncertainty
    loss_initial: float
    loss_final: float
    rmse_initial: dict[str, float]
    rmse_final: dict[str, float]
    horizon: float
    evaluations: int
    sim_steps: int
    wall_time_s: float
    rollout_time_s: float
    history: list[tuple[int, float, str]]
    stages: list[str]
    interrupted: bool
    optimizer: str
    tracks: list[Track]
    windows: Windows
    simulated: np.ndarray
    rollout_calls: list[tuple[int, int]]
    optimizer_reason: str = ""
    gradient_steps: int = 0
    starts: tuple[tuple[int, float], ...] = ()
    at_bound: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    robust_std: np.ndarray | None = None  # (n,) standard errors robust to correlated residuals (`sysid.inverse`)


AT_BOUND = 1e-3  # a fitted value this close to a bound, in the unit box, is reported as at the bound


def fit(model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet, config: FitConfig = FitConfig(), *, progress: bool = True,
        loop: "ClosedLoop | None" = None, choose: "Callable[[list[FitResult]], int] | None" = None,
        quiet: bool = False, backend: "RayBackend | None" = None, extra_residuals: "ExtraResiduals | None" = None) -> FitResult:
    """Fit `params` of `model` to `logs` under the multiple-shooting rollout loss.

    Args:
      loop: actuator models / residual dynamics run inside every rollout (`sysid.closedloop`); the
        numbers of its models that are fitted must be in `params` (`loop.params()`).
      choose: with several starts, picks the one to keep (index into the results), e.g. by held-out
        error; default: the lowest final loss on the fitted logs.
      quiet: collect the warnings in `FitResult.warnings` without issuing them (inner fits of a
        cross-validation).
      backend: Ray (`sysid.distributed`): several starts run as Ray tasks, one start's large
        candidate batches are split across Ray actors; the numbers are the local fit's.
      extra_residuals: residuals of another objective appended to every candidate's (`sysid.priors.ExtraResiduals`);
        such a fit runs locally (not on `backend`).
    The kept start's warnings are issued once each, after all starts ran.
    """
    if extra_residuals is not None:
        backend = None
    configs = [dataclasses.replace(config, seed=config.seed + k) for k in range(config.starts)]  # start k: seed + k
    if backend is not None and config.starts > 1:
        answers = backend.fit_starts(model, logs, params, configs, loop=loop)  # None: a start Ctrl-C stopped before it ran
        results = [r for r in answers if r is not None]
        seeds = [c.seed for c, r in zip(configs, answers) if r is not None]
        missing = len(results) < len(configs)
    else:
        results = []
        for k, start_config in enumerate(configs):
            r = fit_start(model, logs, params, start_config, progress=progress, loop=loop, backend=backend,
                          extra_residuals=extra_residuals)
            results.append(r)
            if config.starts > 1:
                logger.info("start %d/%d (seed %d): final loss %.6g", k + 1, config.starts, start_config.seed, r.loss_final)
            if r.interrupted:
                break
        seeds, missing = [c.seed for c in configs[: len(results)]], False
    if choose is not None and len(results) > 1:
        best = results[choose(results)]
    else:
        best = min(results, key=lambda r: r.loss_final if np.isfinite(r.loss_final) else np.inf)
    if not quiet:
        for message in best.warnings:
            warnings.warn(message, stacklevel=2)
    if config.starts == 1:
        return best
    return dataclasses.replace(
        best, evaluations=sum(r.evaluations for r in results), sim_steps=sum(r.sim_steps for r in results),
        wall_time_s=sum(r.wall_time_s for r in results), rollout_time_s=sum(r.rollout_time_s for r in results),
        rollout_calls=[c for r in results for c in r.rollout_calls], interrupted=missing or any(r.interrupted for r in results),
        gradient_steps=sum(r.gradient_steps for r in results),
        starts=tuple((seed, float(r.loss_final)) for seed, r in zip(seeds, results)),
    )


def fit_start(model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet, config: FitConfig, *, progress: bool = False,
              loop: "ClosedLoop | None" = None, backend: "RayBackend | None" = None,
              extra_residuals: "ExtraResiduals | None" = None) -> FitResult:
    """One start of `fit` from `config.seed`, its warnings collected in `FitResult.warnings` (not issued)."""
    with single_threaded_blas(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = _fit(model, logs, params, config, progress=progress, loop=loop, backend=backend, extra_residuals=extra_residuals)
    return dataclasses.replace(r, warnings=tuple(dict.fromkeys(str(w.message) for w in caught)))


def initial_and_fitted(final: ShootingLoss, params: ParamSet, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The windows of `final` simulated at the initial and at the fitted values: (2, m) entries (NaN
    where a window diverged) and (2,) losses, the mean squared residual in noise units (a FitResult's
    loss_initial, loss_final)."""
    simulated, ok = final.simulate(np.stack([params.initial, values]))
    simulated[~ok[:, final.windows.entry_window]] = np.nan
    return simulated, np.mean(((simulated - final.windows.entry_target) / final.windows.entry_sigma) ** 2, axis=1)


def _fit(model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet, config: FitConfig, *, progress: bool, loop=None,
         backend: "RayBackend | None" = None, extra_residuals=None) -> FitResult:
    start_time = time.perf_counter()
    tracks = [bind_log(log, model) for log in logs]
    if len({tr.signals for tr in tracks}) > 1:
        raise UserError("all logs of one fit must log the same joint signals; " + "; ".join(f"{tr.source}: {list(tr.signals)}" for tr in tracks))
    nx = len(tracks[0].refine_index) if config.refine_states and tracks else 0
    check_memory(tracks, horizon=config.horizons[-1], timestep=model.opt.timestep, nu=model.nu, n=len(params), nx=nx)
    chain, reason = select_optimizers(config.optimizer, config.optimizer_options, model, params, closed_loop=loop is not None)
    logger.info("optimizer %s", reason)
    priors = dataclasses.replace(Priors.from_config(config.priors, params), extra=extra_residuals)

    def stage_priors(loss: ShootingLoss) -> Priors:
        """The config's priors, plus the shrinkage scaled to this stage's initial misfit."""
        if config.shrink <= 0:
            return priors
        return priors.with_shrink(config.shrink, params, loss.residuals(params.initial[None])[0])
    global_opts = [o for o in chain if not o.local]
    local_opts = [o for o in chain if o.local]
    if loop is not None:
        loop.bind(params)
    sim = Simulator(model, params, nthread=config.nthread, loop=loop)
    # Large candidate batches of the global searches go to Ray actors, each with its own Simulator.
    population = backend.population(model, tracks, params, loop) if backend is not None and global_opts else None
    history: list[tuple[int, float, str]] = []
    stages: list[str] = []
    evaluations = gradient_steps = 0
    bar = Progress(enabled=progress)

    def run_stage(optimizer, horizon: float, *, polish: bool, u: np.ndarray, final: bool = False) -> tuple[np.ndarray, Objective, object]:
        nonlocal evaluations, gradient_steps
        loss = ShootingLoss(sim, tracks, horizon, max_windows=None if polish else config.max_windows, robust=config.loss)
        label = f"{optimizer.name} {horizon:g}s"
        offset = evaluations

        def on_evaluate(count: int, best: float) -> None:
            bar.update(count, best)
            history.append((offset + count, best, label))

        objective = Objective(loss, refine_states=polish and config.refine_states, priors=stage_priors(loss), final=final,
                              on_evaluate=on_evaluate)
        if population is not None and not optimizer.local:
            objective.batch = population
        expected = getattr(optimizer, "expected_evaluations", None)
        bar.stage(f"{label} ({loss.n_windows} windows)", expected(objective) if expected else None)
        running.append(objective)
        try:
            outcome = optimizer.minimize(objective, objective.start(u), seed=config.seed)
        finally:
            evaluations += objective.evaluations
        gradient_steps += outcome.gradient_steps
        stages.append(f"{label}: {loss.n_windows} windows, {objective.evaluations} evaluations, loss {outcome.loss:.6g} ({outcome.message})")
        return outcome.x[: len(params)], objective, outcome

    u = params.to_unit(params.initial)
    interrupted = False
    last_objective, last_outcome = None, None
    running: list[Objective] = []  # every stage's objective, the one in progress last
    skipped = False  # the local probe explained the logs: no global search
    try:
        probe = local_opts[0] if local_opts and hasattr(local_opts[0], "max_iterations") else None
        if config.local_first and global_opts and probe is not None and len(config.horizons) > 1:
            probe = dataclasses.replace(probe, max_iterations=PROBE_ITERATIONS, name=f"{probe.name} probe")
            u_probe, _, outcome = run_stage(probe, config.horizons[0], polish=False, u=u)
            u = u_probe  # least squares only lowers the loss: a better start for the search too
            if outcome.loss <= EXPLAINED_LOSS:
                global_opts, skipped = [], True
        for i, horizon in enumerate(config.horizons):
            last = i == len(config.horizons) - 1
            # Global searches run on every stage but the last, which is the local polish's;
            # with a single stage, or no local optimizer, they run there too.
            if not last or not local_opts or len(config.horizons) == 1:
                for optimizer in global_opts:
                    # Nothing polishes after a global search on the last stage: it refines the start states itself.
                    alone = last and not local_opts
                    u, last_objective, last_outcome = run_stage(optimizer, horizon, polish=alone, u=u, final=alone)
            if last or not (global_opts or skipped):
                for optimizer in local_opts:
                    u, last_objective, last_outcome = run_stage(optimizer, horizon, polish=last, u=u, final=last)
    except KeyboardInterrupt:
        interrupted = True
        if running and running[-1].best_x is not None:
            u = running[-1].best_x[: len(params)]
    finally:
        bar.close()
        if population is not None:
            population.close()

    searched = bool(chain)  # "none" keeps the initial values: nothing was fitted, so nothing to warn about the search
    values = params.from_unit(u) if searched else np.array(params.initial, dtype=float)  # exact, not through the unit box
    polished = last_objective.shooting if last_objective is not None else None
    final = (polished if polished is not None and polished.horizon == config.horizons[-1] and polished.max_windows is None
             else ShootingLoss(sim, tracks, config.horizons[-1], robust=config.loss))  # one copy of a long log's windows, not two
    # Uncertainty at the last stage's optimum (with its refined start states) when it covered the
    # final windows; else at zero offsets. One Jacobian, folded window by window with each
    # signal's rows weighted by its residual scale: the start states are eliminated per window.
    if (last_outcome is not None and not interrupted and last_objective.shooting.n_windows == final.n_windows
            and last_objective.refine_states == config.refine_states):
        objective, x = last_objective, last_outcome.x
        r = last_outcome.residuals if last_outcome.residuals is not None else objective.residuals(x[None])[0]
    else:
        objective = Objective(final, refine_states=config.refine_states, priors=stage_priors(final))
        x = objective.start(u)
        r = objective.residuals(x[None])[0]
    unc = block_uncertainty(objective, x, r)
    for problem in unc.problems:
        warnings.warn(problem, stacklevel=3)
    simulated, losses = initial_and_fitted(final, params, values)
    # The number tested is the printed "loss ... -> final": residuals are in noise units, so a model
    # that explains the logs scores about 1.
    if not losses[1] <= POOR_FIT_LOSS and not interrupted and searched:
        warnings.warn(f"the fitted loss is {losses[1]:.3g}, about {losses[1]:.0f}x what a model that explains the logs down to "
                      f"their noise scores: the search may have ended in a wrong basin (try another --seed), or the model lacks "
                      f"something the robot does (more parameters, an --actuator model)", stacklevel=3)
    u_fit = params.to_unit(values)
    at_bound = tuple(p.name for p, ui in zip(params, u_fit) if ui <= AT_BOUND or ui >= 1 - AT_BOUND)
    for p, ui in zip(params, u_fit):
        # A value at a lower bound of 0 (no friction, no delay) is a physical answer, not a warning.
        if searched and p.name in at_bound and not (ui <= AT_BOUND and p.lower == 0):
            side, bound = ("lower", p.lower) if ui <= AT_BOUND else ("upper", p.upper)
            warnings.warn(f"{p.name} ended at its {side} bound {bound:.4g}: the logs push it past the bound, which often means it "
                          f"absorbs an effect the model lacks; check the value is physical, widen the bound in the config's params "
                          f"if it is, or fix it (leave it out of --params)", stacklevel=3)
    sim.close()
    return FitResult(
        params=params,
        values=values,
        uncertainty=unc,
        loss_initial=float(losses[0]),
        loss_final=float(losses[1]),
        rmse_initial=final.rmse(simulated[0]),
        rmse_final=final.rmse(simulated[1]),
        horizon=config.horizons[-1],
        evaluations=evaluations,
        sim_steps=sim.steps,
        wall_time_s=time.perf_counter() - start_time,
        rollout_time_s=sim.rollout_seconds,
        history=history,
        stages=stages,
        interrupted=interrupted,
        optimizer="+".join(o.name for o in chain) or NONE,
        tracks=tracks,
        windows=final.windows,
        simulated=simulated,
        rollout_calls=sim.calls,
        optimizer_reason=reason,
        gradient_steps=gradient_steps,
        at_bound=at_bound,
    )
