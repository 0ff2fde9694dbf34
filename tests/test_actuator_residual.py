"""Tests for residual dynamics: targets, the ensemble, and its use inside rollouts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import make_log

from actuator_models.residual import ResidualConfig, residual_targets, train_residual
from sysid.closedloop import ClosedLoop
from sysid.loss import ShootingLoss
from sysid.params import ParamSet
from sysid.sim import Simulator
from sysid.track import bind_log


def test_targets_are_the_force_the_model_misses(pendulum, truth_model):
    log = make_log(truth_model, 1.0, seed=3, noise=False)
    x, y = residual_targets(truth_model, [log])
    assert x.shape == (len(log.time), 3) and y.shape == (len(log.time), 1)
    assert np.median(np.abs(y)) < 0.02  # the true model misses (almost) nothing
    _, y_nominal = residual_targets(pendulum, [log])
    moving = np.abs(x[:, 1]) > 0.5
    # The nominal model has 0.3 N m s/rad more damping than the truth (and other errors): the residual gives it back.
    assert np.corrcoef(y_nominal[moving, 0], x[moving, 1])[0, 1] > 0.5


@pytest.fixture(scope="module")
def ensemble(truth_model):
    import mujoco

    from conftest import PENDULUM_XML

    nominal = mujoco.MjModel.from_xml_string(PENDULUM_XML)
    logs = [make_log(truth_model, 4.0, seed=s, noise=False) for s in (5, 6)]
    x, y = residual_targets(nominal, logs)
    return nominal, train_residual(x, y, ResidualConfig(members=3, hidden=(32, 32), epochs=40, patience=10))


@pytest.mark.parametrize("nbatch", [1, 3])
def test_residual_in_the_loop_halves_the_rollout_error(ensemble, truth_model, nbatch):
    nominal, residual = ensemble
    track = bind_log(make_log(truth_model, 2.0, seed=7, noise=False), nominal)
    errors = []
    for loop in (None, ClosedLoop(nominal, [], residual=residual)):
        sim = Simulator(nominal, ParamSet([], model=nominal), nthread=1, loop=loop)
        loss = ShootingLoss(sim, [track], 0.5, max_windows=nbatch)
        simulated, ok = loss.simulate(np.zeros((1, 0)))
        assert ok.all()
        errors.append(loss.rmse(simulated[0])["hinge.pos"])
    assert errors[1] < 0.5 * errors[0], errors
    report = residual.report()
    assert report["rows"] > 0 and 0 < report["disagreement"] < 1


def test_leaving_the_training_range_warns_once(ensemble):
    _, residual = ensemble
    residual.warned = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        residual.compute(np.array([[50.0]]), np.array([[0.0]]), np.array([[0.0]]))
        residual.compute(np.array([[50.0]]), np.array([[0.0]]), np.array([[0.0]]))
    assert sum("left the state range" in str(w.message) for w in caught) == 1
    assert residual.outside_fraction > 0
