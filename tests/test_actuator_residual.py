"""Tests for residual dynamics: targets, the ensemble, and its use inside rollouts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import make_log

from actuator_models.residual import ResidualConfig, residual_targets, train_residual
from sysid.closedloop import ClosedLoop
from sysid.errors import UserError
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


def test_residual_train_command_writes_a_model_that_loads_back_and_helps_on_held_out_logs(tmp_path, pendulum_path, truth_model):
    import json

    import mujoco
    from conftest import write_csv

    from actuator_models.residual import load_residual
    from sysid.cli import main

    train = [write_csv(make_log(truth_model, 4.0, seed=s, noise=False), tmp_path / f"run{s}.csv") for s in (5, 6)]
    held_out = write_csv(make_log(truth_model, 2.0, seed=7, noise=False), tmp_path / "held_out.csv")
    out = tmp_path / "residual"
    code = main(["residual", "train", "--model", str(pendulum_path), *(a for p in train for a in ("--log", str(p))),
                 "--val-log", str(held_out), "--members", "3", "--hidden", "32,32", "--epochs", "40", "--patience", "10",
                 "--horizon", "0.5", "--out", str(out), "--quiet"])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"residual.npz", "residual.pt", "residual.json", "loss.png"}
    meta = json.loads((out / "residual.json").read_text())
    assert meta["model"] == str(pendulum_path) and meta["logs"] == [str(p) for p in train] and meta["sysid_version"]
    validation = meta["validation"]
    # The nominal pendulum's damping is 0.3 N m s/rad off the truth: the residual gives most of it back.
    assert validation["rmse_horizon_with_residual"]["hinge.pos"] < 0.5 * validation["rmse_horizon_without_residual"]["hinge.pos"]
    model = mujoco.MjModel.from_xml_path(str(pendulum_path))
    loaded = load_residual(out, model)
    x = np.array([[0.3, -1.0, 0.5]])
    assert loaded.compute(x[:, :1], x[:, 1:2], x[:, 2:]).shape == (1, 1)
    assert np.allclose(loaded.train_lower, meta["train_lower"]) and loaded.meta["members"] == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--inputs", "qacc"], "residual inputs must be some of qpos, qvel, ctrl"),
    (["--inputs", "qvel,qvel"], "each once"),
    (["--val", "1.5"], "--val 1.5"),
    (["--hidden", "a,b"], "--hidden must be comma-separated"),
    (["--horizon", "0"], "--horizon 0.0: the validation window must be positive"),
    (["--members", "1"], "--members must be at least 2"),
    (["--result", "missing/result.json"], "missing/result.json: cannot read the fit's result.json"),
])
def test_residual_train_command_bad_options_are_one_line_errors(tmp_path, pendulum_path, truth_model, capsys, args, message):
    from conftest import write_csv

    from sysid.cli import main

    log = write_csv(make_log(truth_model, 1.0, seed=5, noise=False), tmp_path / "run.csv")
    code = main(["residual", "train", "--model", str(pendulum_path), "--log", str(log), "--epochs", "2", "--out", str(tmp_path / "o"), "--quiet", *args])
    assert code == 2 and message in capsys.readouterr().err


def test_loading_a_residual_for_another_model_names_the_file(tmp_path, ensemble):
    import mujoco

    from actuator_models.residual import load_residual, save_residual
    from conftest import ARM_XML

    nominal, residual = ensemble
    save_residual(tmp_path, residual, nominal)
    with pytest.raises(UserError, match="residual.json: trained for a model with nq, nv, nu = 1, 1, 1"):
        load_residual(tmp_path, mujoco.MjModel.from_xml_string(ARM_XML))
    with pytest.raises(UserError, match="residual model file not found"):
        load_residual(tmp_path / "missing", nominal)
    (tmp_path / "residual.npz").write_bytes(b"not weights")
    with pytest.raises(UserError, match="residual.npz: does not match residual.json"):
        load_residual(tmp_path, nominal)


def test_residual_train_applies_the_fits_delay_and_refuses_a_fit_with_actuator_models(tmp_path, pendulum_path, truth_model, capsys):
    import json

    from conftest import write_csv

    from sysid.cli import main

    log = write_csv(make_log(truth_model, 1.0, seed=5, noise=False), tmp_path / "run.csv")
    (tmp_path / "result.json").write_text(json.dumps({"params": {"delay": {"value": 0.012}, "damping@hinge": {"value": 0.2}}}))
    args = ["residual", "train", "--model", str(pendulum_path), "--log", str(log), "--val-log", str(log), "--epochs", "2", "--quiet"]
    assert main([*args, "--result", str(tmp_path / "result.json"), "--out", str(tmp_path / "a")]) == 0
    meta = json.loads((tmp_path / "a" / "residual.json").read_text())
    assert meta["delay"] == 0.012 and meta["result"] == str(tmp_path / "result.json")
    # The validation rollouts apply the delay: without the residual they differ from undelayed ones.
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    undelayed = json.loads((tmp_path / "b" / "residual.json").read_text())
    key = "rmse_horizon_without_residual"
    assert abs(meta["validation"][key]["hinge.pos"] - undelayed["validation"][key]["hinge.pos"]) > 1e-3
    assert undelayed["delay"] == 0.0
    (tmp_path / "result.json").write_text(json.dumps({"params": {}, "actuator_models": ["actuators.json"]}))
    assert main([*args, "--result", str(tmp_path / "result.json"), "--out", str(tmp_path / "c")]) == 2
    assert "ran actuator models in the loop" in capsys.readouterr().err


def test_saved_residual_with_some_inputs_round_trips_on_a_bigger_model(tmp_path, arm):
    from actuator_models.residual import load_residual, save_residual

    rng = np.random.default_rng(1)
    n = arm.nq + arm.nv + arm.nu
    x = rng.uniform(-1, 1, (300, n))
    y = x[:, arm.nq : arm.nq + arm.nv] * 0.1 + x[:, -arm.nu :].sum(axis=1, keepdims=True)
    ensemble = train_residual(x, y, ResidualConfig(members=2, hidden=(16,), epochs=5, inputs=("ctrl", "qvel")), model=arm)
    save_residual(tmp_path, ensemble, arm)
    loaded = load_residual(tmp_path, arm)
    np.testing.assert_array_equal(loaded.columns, ensemble.columns)
    q, v, u = x[:7, : arm.nq], x[:7, arm.nq : arm.nq + arm.nv], x[:7, -arm.nu :]
    np.testing.assert_allclose(loaded.compute(q, v, u), ensemble.compute(q, v, u), rtol=1e-6, atol=1e-7)
    # Weights from another run do not match the description: refused, naming the file.
    other = train_residual(x, y, ResidualConfig(members=2, hidden=(8,), epochs=2, inputs=("ctrl", "qvel"), seed=3), model=arm)
    save_residual(tmp_path / "other", other, arm)
    (tmp_path / "residual.npz").write_bytes((tmp_path / "other" / "residual.npz").read_bytes())
    with pytest.raises(UserError, match="residual.npz: does not match residual.json"):
        load_residual(tmp_path, arm)
