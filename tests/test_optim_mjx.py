"""Tests for the mjx optimizer: MJX gradients against finite differences, and the CMA-ES fallback.

One small problem (a frictionless pendulum, 0.5 s of log, 0.1 s windows) shared by every test,
so JAX compiles the rollout Jacobian once.
"""

from __future__ import annotations

import pathlib

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML, TRUTH, make_log, with_values

jax = pytest.importorskip("jax")
pytest.importorskip("mujoco.mjx")
# XLA's compile of the rollout Jacobian is most of this file's time: keep it between runs.
jax.config.update("jax_compilation_cache_dir", str(pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"))

from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.loss import ShootingLoss  # noqa: E402
from sysid.mjx_loss import MjxLoss  # noqa: E402
from sysid.objective import Objective  # noqa: E402
from sysid.optim.mjx import check_gradients  # noqa: E402
from sysid.params import parse_params  # noqa: E402
from sysid.sim import Simulator  # noqa: E402
from sysid.track import bind_log  # noqa: E402

SMOOTH = {**TRUTH, "frictionloss@hinge": 0.0}  # no friction: the loss is smooth
PARAMS = "damping,armature,delay"
HORIZON = 0.1


@pytest.fixture(scope="module")
def problem():
    truth = with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), SMOOTH)
    dt = truth.opt.timestep
    log = make_log(truth, 0.5, seed=3, delay=1.5 * dt)
    model = with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), {"frictionloss@hinge": 0.0})
    return model, log, 1.5 * dt


def test_mjx_gradient_matches_central_differences(problem):
    model, log, _ = problem
    params = parse_params(PARAMS, model)
    loss = ShootingLoss(Simulator(model, params, nthread=2), [bind_log(log, model)], HORIZON)
    objective = Objective(loss, refine_states=True)
    x = objective.start(params.to_unit(np.array([0.3, 0.03, 0.002])))
    x[3:] = np.random.default_rng(0).normal(0, 1, objective.dim - 3)
    mjx_loss = MjxLoss(objective, x)
    value, grad = mjx_loss.value_and_grad(x)
    assert value == pytest.approx(objective.loss(x[None])[0], rel=1e-9)  # the same loss as mujoco.rollout's
    assert list(mjx_loss.differentiable) == [True, True, False]  # the delay has no MJX gradient
    for k in [0, 1, *range(3, objective.dim)]:
        h = 1e-5 if k < 3 else 1e-3
        step = np.zeros(objective.dim)
        step[k] = h
        central = (objective.loss((x + step)[None])[0] - objective.loss((x - step)[None])[0]) / (2 * h)
        assert grad[k] == pytest.approx(central, rel=1e-3, abs=1e-9), f"coordinate {k}"


def test_check_gradients_names_missing_nan_zero_and_wrong_gradients():
    names = ["a", "b", "c", "d", "e"]
    bad = check_gradients(names, np.array([1.0, np.nan, 0.0, 2.0, 5.0]), np.array([1.01, 1.0, 1.0, 1.0, 5.0]),
                          np.array([True, True, True, True, False]))
    assert bad == {"b": "NaN gradient", "c": "zero gradient", "d": "gradient 2 vs finite difference 1",
                   "e": "no MJX gradient"}


def test_mjx_fit_recovers_values_and_falls_back_to_cmaes_for_the_delay(problem):
    model, log, delay = problem
    params = parse_params(PARAMS, model)
    config = FitConfig(horizons=(HORIZON,), optimizer="mjx", nthread=2,
                       optimizer_options={"mjx": {"max_steps": 60, "fallback_evaluations": 100}})
    with pytest.warns(UserWarning, match=r"mjx: delay: no MJX gradient.*CMA-ES fits these parameters"):
        result = fit(model, [log], params, config, progress=False)
    assert result.optimizer == "mjx" and result.gradient_steps > 0
    assert "CMA-ES for delay" in result.stages[-1]
    np.testing.assert_allclose(result.values[:2], [SMOOTH["damping@hinge"], SMOOTH["armature@hinge"]], rtol=0.05)
    assert result.values[2] == pytest.approx(delay, rel=0.3)
    assert result.loss_final < 1.5
