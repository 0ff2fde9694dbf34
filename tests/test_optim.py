"""Tests for the optimizer registry, the bayes optimizer, CMA-ES alone, and `--optimizer auto`."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML, TRUTH

from sysid.errors import UserError
from sysid.export import result_dict
from sysid.fit import FitConfig, fit
from sysid.optim import CMAES, OPTIMIZERS, Bayes, optimizer_chain, select_optimizers
from sysid.optim.auto import Problem, choose, describe
from sysid.params import parse_params

NAMES = ["damping@hinge", "armature@hinge", "frictionloss@hinge"]
LIMITED_XML = """\
<mujoco>
  <worldbody>
    <geom type="plane" size="1 1 0.1"/>
    <body name="link" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" range="-1 1" damping="0.1"/>
      <geom type="sphere" size="0.1" mass="1"/>
    </body>
  </worldbody>
</mujoco>
"""


class Quadratic:
    """A fake objective on the unit box that records every batch it is asked to evaluate."""

    def __init__(self, target: np.ndarray):
        self.target, self.dim = target, len(target)
        self.lower, self.upper = np.zeros(self.dim), np.ones(self.dim)
        self.evaluations, self.batches, self.final = 0, [], False

    def loss(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(np.array(x))
        self.evaluations += len(x)
        return np.sum((x - self.target) ** 2, axis=1) + 1e-3


def test_every_optimizer_is_a_frozen_dataclass_named_by_its_key():
    for name, cls in OPTIMIZERS.items():
        optimizer = cls()
        assert dataclasses.is_dataclass(optimizer) and optimizer.name == name and isinstance(optimizer.local, bool)
        with pytest.raises(dataclasses.FrozenInstanceError):
            optimizer.name = "other"
    assert [o.name for o in optimizer_chain("bayes+lsq", {"bayes": {"batch": 2}})] == ["bayes", "lsq"]


@pytest.mark.parametrize("n, options, budget", [(2, {}, 200), (8, {}, 200), (24, {}, 600), (8, {"max_evaluations": 90}, 90)])
def test_cmaes_spends_its_default_budget_per_searched_parameter(n, options, budget):
    objective = Quadratic(np.full(n, 0.3))
    outcome = CMAES(sigma0=0.3, tolx=1e-12, **options).minimize(objective, np.full(n, 0.7), seed=0)
    # pycma stops at the first generation past the budget: at most one population over it.
    popsize = len(objective.batches[0])
    assert budget <= outcome.evaluations <= budget + popsize


def test_bayes_asks_batches_inside_the_bounds_starting_from_x0():
    objective = Quadratic(np.array([0.3, 0.7]))
    outcome = Bayes(max_evaluations=14, batch=4, startup_trials=4).minimize(objective, np.array([0.5, 0.5]), seed=0)
    assert [len(b) for b in objective.batches] == [4, 4, 4, 2]  # one rollout call per batch
    np.testing.assert_allclose(objective.batches[0][0], [0.5, 0.5])
    candidates = np.concatenate(objective.batches)
    assert np.all((candidates >= 0) & (candidates <= 1))
    assert outcome.evaluations == 14 and outcome.message.startswith("GPSampler")
    assert outcome.loss == pytest.approx(objective.loss(outcome.x[None])[0]) and outcome.loss < 0.05


@pytest.mark.parametrize("options, message", [({"sampler": "random"}, "sampler must be 'gp' or 'tpe'"),
                                              ({"batch": 0}, "at least 1"), ({"trials": 3}, "unexpected keyword")])
def test_bayes_options_are_validated(options, message):
    with pytest.raises(UserError, match=message):
        optimizer_chain("bayes", {"bayes": options})


def test_bayes_then_lsq_recovers_the_pendulum(pendulum, noisy_log):
    params = parse_params("damping,armature,friction", pendulum)
    config = FitConfig(horizons=(0.1, 0.3), optimizer="bayes+lsq", nthread=2, local_first=False,
                       optimizer_options={"bayes": {"sampler": "tpe", "max_evaluations": 60}})
    result = fit(pendulum, [noisy_log], params, config, progress=False)
    np.testing.assert_allclose(result.values, [TRUTH[n] for n in NAMES], rtol=0.03)
    assert result.stages[0].startswith("bayes 0.1s") and "TPESampler" in result.stages[0]


def test_cmaes_alone_converges_on_its_final_stage(pendulum, noisy_log):
    params = parse_params("damping,armature,friction", pendulum)
    config = FitConfig(horizons=(0.1, 0.3), optimizer="cmaes", nthread=2, optimizer_options={"cmaes": {"final_max_evaluations": 1500}})
    result = fit(pendulum, [noisy_log], params, config, progress=False)
    np.testing.assert_allclose(result.values, [TRUTH[n] for n in NAMES], rtol=0.05)
    assert "maxfevals=600" not in result.stages[-1]  # the final stage's budget is larger


# --- auto ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem, chosen", [
    (Problem(8, ("frictionloss",), None, False), "cmaes+lsq"),
    (Problem(3, (), 100, False), "bayes+lsq"),
    (Problem(40, (), 100, False), "cmaes+lsq"),  # too many parameters for a GP
    (Problem(3, (), None, True), "cmaes+mjx"),
    (Problem(3, ("contacts",), None, True), "cmaes+lsq"),
])
def test_auto_chooses_from_the_problem(problem, chosen):
    spec, reason = choose(problem)
    assert spec == chosen and reason.startswith(chosen)
    assert f"{problem.n_params} parameters" in reason


def test_auto_describes_what_makes_the_loss_rough(pendulum):
    problem = describe(pendulum, parse_params("damping,armature", pendulum))
    assert problem.rough == ("frictionloss",) and not problem.gpu  # the model has friction even when not fitted
    limited = mujoco.MjModel.from_xml_string(LIMITED_XML)
    assert describe(limited, parse_params("damping,delay", limited)).rough == ("joint limits", "contacts", "delay (no MJX gradient)")


@pytest.mark.parametrize("options, message", [({"budget": 0}, "positive integer"), ({"speed": 1}, "unknown option")])
def test_auto_options_are_validated(pendulum, options, message):
    with pytest.raises(UserError, match=message):
        select_optimizers("auto", {"auto": options}, pendulum, parse_params("damping", pendulum))


def test_auto_fit_says_what_it_chose_and_why(pendulum, noisy_log):
    params = parse_params("damping,armature,friction", pendulum)
    config = FitConfig(horizons=(0.1, 0.3), optimizer="auto", nthread=2, optimizer_options={"cmaes": {"max_evaluations": 300}})
    result = fit(pendulum, [noisy_log], params, config, progress=False)
    assert result.optimizer == "cmaes+lsq"
    assert result.optimizer_reason.startswith("auto: cmaes+lsq (3 parameters, non-smooth loss (frictionloss)")
    summary = result_dict(result, model_path="pendulum.xml", log_paths=["run.csv"], config=config, command="")
    assert summary["optimizer_reason"] == result.optimizer_reason and summary["gradient_steps"] == 0
    assert all(isinstance(p["identifiable"], bool) for p in summary["params"].values())
    explicit = fit(pendulum, [noisy_log], params, FitConfig(horizons=(0.3,), optimizer="lsq", nthread=2), progress=False)
    assert explicit.optimizer_reason == "chosen in the command line or config"


# --- least squares ------------------------------------------------------------------------------


def _polish_objective(pendulum, noisy_log):
    from sysid.loss import ShootingLoss
    from sysid.objective import Objective
    from sysid.sim import Simulator
    from sysid.track import bind_log

    params = parse_params("damping,armature,friction", pendulum, overrides={n: {"initial": 1.3 * TRUTH[n]} for n in NAMES})
    sim = Simulator(pendulum, params, nthread=2)
    objective = Objective(ShootingLoss(sim, [bind_log(noisy_log, pendulum)], 0.3), refine_states=True, final=True)
    return objective, objective.start(params.to_unit(params.initial))


def test_subspace_jacobian_is_the_parameter_columns_of_the_full_one(pendulum, noisy_log):
    from sysid.objective import Subspace

    objective, x = _polish_objective(pendulum, noisy_log)
    r = objective.residuals(x[None])[0]
    full = objective.jacobian(x, r)
    sub = Subspace(objective, np.arange(objective.n), x)
    np.testing.assert_allclose(sub.jacobian(x[: objective.n], r), full[:, : objective.n], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="parameter coordinates"):
        Subspace(objective, np.arange(objective.dim), x).jacobian(x, r)


def test_lsq_with_refined_states_reaches_the_joint_least_squares_optimum(pendulum, noisy_log):
    from scipy import optimize

    from sysid.optim import LeastSquares

    objective, x0 = _polish_objective(pendulum, noisy_log)
    outcome = LeastSquares().minimize(objective, x0, seed=0)
    joint = optimize.least_squares(lambda x: objective.residuals(x[None])[0], x0, bounds=(objective.lower, objective.upper),
                                   method="trf", x_scale="jac", ftol=1e-10, xtol=1e-10, gtol=1e-10,
                                   jac=lambda x: objective.jacobian(x, objective.residuals(x[None])[0]))
    assert outcome.loss <= np.mean(joint.fun**2) * (1 + 1e-5)
    np.testing.assert_allclose(outcome.x[: objective.n], joint.x[: objective.n], atol=1e-3)
    assert outcome.jacobian is None  # the block solve never forms the (m, dim) Jacobian


def test_block_solve_reaches_the_dense_optimum(pendulum, noisy_log):
    """Levenberg-Marquardt on the window blocks and scipy's on the dense Jacobian, both run to
    convergence from the same start, end at the same point."""
    from scipy import optimize

    from sysid.optim import LeastSquares

    objective, x0 = _polish_objective(pendulum, noisy_log)
    x0 = x0.copy()
    x0[objective.n :] = np.random.default_rng(0).normal(0, 0.5, objective.n_state)
    block = LeastSquares(max_iterations=200, tolerance=1e-15)._blocks(objective, x0, 1e-15, states=True, gtol=1e-15)
    dense = optimize.least_squares(lambda x: objective.residuals(x[None])[0], x0, method="lm", x_scale="jac",
                                   ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=200,
                                   jac=lambda x: objective.jacobian(x, objective.residuals(x[None])[0]))
    assert np.all((dense.x[: objective.n] > 0) & (dense.x[: objective.n] < 1))  # the optimum is inside the box
    np.testing.assert_allclose(block.x, dense.x, rtol=0, atol=1e-8)
    np.testing.assert_allclose(np.mean(block.r**2), np.mean(dense.fun**2), rtol=1e-12)


def test_block_uncertainty_matches_the_dense_one(pendulum, noisy_log):
    """Standard errors and correlations from the window blocks (start states eliminated) equal those
    from the dense Jacobian with the start-state columns."""
    from sysid.optim.blocks import block_uncertainty
    from sysid.uncertainty import uncertainty

    objective, x = _polish_objective(pendulum, noisy_log)
    x = x.copy()
    x[objective.n :] = np.random.default_rng(1).normal(0, 0.5, objective.n_state)
    r = objective.residuals(x[None])[0]
    values = objective.params.from_unit(x[: objective.n])
    dense = uncertainty(objective.params, values, objective.jacobian(x, r), r, objective.n_state, groups=objective.groups)
    block = block_uncertainty(objective, x, r)
    assert np.all(np.isfinite(dense.std)) and np.all(dense.std > 0)
    np.testing.assert_allclose(block.std, dense.std, rtol=1e-7)
    np.testing.assert_allclose(block.correlation, dense.correlation, rtol=0, atol=1e-7)
    np.testing.assert_allclose(block.ci95, dense.ci95, rtol=1e-7)
    assert block.residual_scale == pytest.approx(dense.residual_scale, rel=1e-12)


class Linear:
    """Residuals x - target (dim,) on the unit box, with their Jacobian: the polish's interface."""

    def __init__(self, target: np.ndarray):
        self.target, self.dim, self.m = np.asarray(target, float), len(target), len(target)
        self.lower, self.upper = np.zeros(self.dim), np.ones(self.dim)
        self.evaluations = 0

    def residuals(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        self.evaluations += len(x)
        return x - self.target

    def jacobian(self, x: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.eye(self.dim)


@pytest.mark.parametrize("target, method", [([0.3, 0.6], "lm"), ([0.3, 1.7], "trf")])
def test_joint_solve_uses_lm_inside_the_bounds_and_trf_when_its_answer_leaves_them(monkeypatch, target, method):
    from scipy import optimize

    from sysid.optim import LeastSquares

    methods = []
    original = optimize.least_squares
    monkeypatch.setattr(optimize, "least_squares", lambda *a, **k: methods.append(k["method"]) or original(*a, **k))
    solution = LeastSquares()._solve(Linear(target), np.array([0.5, 0.5]), 1e-8, interior=True)
    assert methods[-1] == method and methods[0] == "lm"
    np.testing.assert_allclose(solution.x, np.clip(target, 0.0, 1.0), atol=1e-6)
