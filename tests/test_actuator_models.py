"""Tests for the analytic actuator models and the tiny trajectory-matching network (batched numpy)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actuator_models import (
    DCMotorConfig, DelayedPDConfig, FrictionConfig, IdealPDConfig, TinyNetConfig, make_config,
)
from sysid.cli import main
from sysid.errors import UserError

DT = 0.002


@pytest.mark.parametrize("nbatch", [1, 7])
def test_ideal_pd_saturates_at_its_effort_limit(nbatch):
    pd = IdealPDConfig(pd_kp=10.0, pd_kd=1.0, effort_limit=2.0, gain=2.0).build()
    pd.reset(nbatch, DT)
    target = np.linspace(-1, 1, nbatch)
    tau = pd.compute(target, np.zeros(nbatch), np.full(nbatch, 0.05))
    np.testing.assert_allclose(tau, np.clip(20.0 * target - 0.05, -2, 2))


@pytest.mark.parametrize("nbatch", [1, 5])
def test_delayed_pd_interpolates_between_control_steps(nbatch):
    rng = np.random.default_rng(0)
    commands = rng.normal(size=(30, nbatch))
    outputs = {}
    for steps in (0.0, 2.0, 3.0, 2.25):
        pd = DelayedPDConfig(pd_kp=1.0, pd_kd=0.0, pd_delay=steps * DT).build()
        pd.reset(nbatch, DT)
        outputs[steps] = np.array([pd.compute(c, np.zeros(nbatch), np.zeros(nbatch)) for c in commands])
    np.testing.assert_allclose(outputs[0.0], commands)
    np.testing.assert_allclose(outputs[2.0][2:], commands[:-2])
    np.testing.assert_allclose(outputs[2.0][:2], np.repeat(commands[:1], 2, axis=0))  # the first command held before
    np.testing.assert_allclose(outputs[2.25], 0.75 * outputs[2.0] + 0.25 * outputs[3.0])


@pytest.mark.parametrize("nbatch", [1, 4])
def test_dc_motor_follows_its_torque_speed_line_and_limits(nbatch):
    config = DCMotorConfig(kt=0.5, R=2.0, vin=12.0, duty_gain=10.0, max_current=4.0)
    motor = config.build()
    motor.reset(nbatch, DT)
    qd = np.linspace(0, 30, nbatch)
    # A large error saturates the duty at 1: tau = kt (vin - kt qd) / R, cut at kt * max_current = 2 N m.
    tau = motor.compute(np.full(nbatch, 5.0), np.zeros(nbatch), qd)
    np.testing.assert_allclose(tau, np.minimum(0.5 * (12.0 - 0.5 * qd) / 2.0, 2.0))
    # A small error is a P law with back-EMF damping.
    tau = motor.compute(np.full(nbatch, 0.01), np.zeros(nbatch), np.zeros(nbatch))
    np.testing.assert_allclose(tau, 0.5 * 0.1 * 12.0 / 2.0)
    duty = DCMotorConfig(kt=0.5, R=2.0, vin=12.0, command="duty").build()
    duty.reset(nbatch, DT)
    np.testing.assert_allclose(duty.compute(np.full(nbatch, 2.0), np.full(nbatch, 9.0), np.zeros(nbatch)), 3.0)


@pytest.mark.parametrize("nbatch", [1, 4])
def test_dc_motor_load_friction_takes_a_share_of_the_torque_while_moving(nbatch):
    plain = DCMotorConfig(kt=0.5, R=2.0, vin=12.0, duty_gain=1.0).build()
    lossy = DCMotorConfig(kt=0.5, R=2.0, vin=12.0, duty_gain=1.0, load_friction=0.3, smooth_vel=1e-4).build()
    for motor in (plain, lossy):
        motor.reset(nbatch, DT)
    command, q = np.linspace(-0.5, 0.5, nbatch) + 0.05, np.zeros(nbatch)
    for qd in (np.full(nbatch, 0.2), np.full(nbatch, -0.2)):
        tau = plain.compute(command, q, qd)
        np.testing.assert_allclose(lossy.compute(command, q, qd), tau - 0.3 * np.abs(tau) * np.sign(qd), rtol=1e-9)
    np.testing.assert_allclose(lossy.compute(command, q, np.zeros(nbatch)), plain.compute(command, q, np.zeros(nbatch)))  # at rest: none


@pytest.mark.parametrize("nbatch", [1, 6])
def test_friction_is_odd_with_a_stribeck_bump(nbatch):
    friction = FrictionConfig(coulomb=0.2, viscous=0.1, stribeck=0.3, stribeck_vel=0.5, smooth_vel=0.001).build()
    friction.reset(nbatch, DT)
    qd = np.linspace(0.01, 5.0, nbatch)
    tau = friction.compute(np.zeros(nbatch), np.zeros(nbatch), qd)
    np.testing.assert_allclose(friction.compute(np.zeros(nbatch), np.zeros(nbatch), -qd), -tau)
    expected = -(0.2 + 0.3 * np.exp(-(qd / 0.5) ** 2)) - 0.1 * qd
    np.testing.assert_allclose(tau, expected, rtol=1e-6)


@pytest.mark.parametrize("nbatch", [1, 3])
def test_tiny_net_rows_use_their_own_weights(nbatch):
    config = TinyNetConfig(hidden=3, history=2)
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(nbatch, config.n_weights))
    net = config.build()
    net.reset(nbatch, DT, {f"tinynet.w{i}": weights[:, i] for i in range(config.n_weights)})
    inputs = rng.normal(size=(4, 3, nbatch))
    batched = [net.compute(*step) for step in inputs]
    for row in range(nbatch):
        single = config.build()
        single.reset(1, DT, {f"tinynet.w{i}": weights[row : row + 1, i] for i in range(config.n_weights)})
        for k, step in enumerate(inputs):
            assert single.compute(*step[:, row : row + 1])[0] == pytest.approx(batched[k][row])
    assert len(config.param_info()) == config.n_weights == 2 * 2 * 3 + 3 + 3 + 1


@pytest.mark.parametrize(("kind", "settings", "message"), [
    ("dcmotor", {"kt": -1.0}, "need kt, R, vin, max_current > 0"),
    ("dcmotor", {"command": "voltage"}, "command must be 'position' or 'duty'"),
    ("dcmotor", {"load_friction": 1.0}, "0 <= load_friction <= 0.99"),
    ("friction", {"stribeck_vel": 0.0}, "stribeck_vel, smooth_vel > 0"),
    ("delayed_pd", {"pd_delay": 0.5}, "pd_delay <= max_delay"),
])
def test_bad_settings_are_user_errors(kind, settings, message):
    with pytest.raises(UserError) as error:
        make_config(kind, settings, where="config")
    assert message in str(error.value)


def test_fit_command_with_an_actuator_model_writes_its_values_and_validates_with_it(tmp_path):
    from test_closedloop import SERVO_XML, _servo_log

    import mujoco
    from conftest import write_csv

    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    log = _servo_log(model, DCMotorConfig(kt=0.4, R=3.0, vin=7.4), 1.0, 4, "run.csv")
    (tmp_path / "servo.xml").write_text(SERVO_XML)
    write_csv(log, tmp_path / "run.csv")
    (tmp_path / "fit.yaml").write_text("actuators:\n  dcmotor@servo: {vin: 7.4, kt: 0.3}\nhorizons: [0.5]\noptimizer: lsq\nrefine_states: false\n")
    code = main(["fit", "--model", str(tmp_path / "servo.xml"), "--log", str(tmp_path / "run.csv"), "--params", "",
                 "--actuator", "dcmotor@servo", "--config", str(tmp_path / "fit.yaml"), "--out", str(tmp_path / "out"), "--quiet",
                 "--val", "0.25"])
    assert code == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    # The held-out last quarter is simulated with the DC motor in the loop: the fitted constants
    # (the true ones) predict it within 1e-4 rad, the initial kt (0.3 for 0.4) misses by about 0.1 rad.
    validation = result["validation"]
    assert validation["rmse_open_loop"]["hinge.pos"] < 1e-4 < 1e-3 < validation["rmse_open_loop_initial"]["hinge.pos"]
    assert result["params"]["kt@servo"]["value"] == pytest.approx(0.4, rel=1e-3)
    assert result["params"]["R@servo"]["unit"] == "ohm"
    assert result["actuator_models"] == ["actuators.json"]
    actuators = json.loads((tmp_path / "out" / "actuators.json").read_text())
    assert actuators["models"][0]["settings"]["kt"] == pytest.approx(0.4, rel=1e-3)


def test_fit_command_runs_the_dc_motor_on_a_logged_voltage(tmp_path):
    """The true motor runs on a supply that sags between 6 and 8 V; the fit reads it from the log
    (`inputs: {vin: servo_vin}`) and recovers kt and R, which a constant 7 V cannot."""
    import copy

    import mujoco
    from conftest import write_csv
    from test_closedloop import DT, SERVO_XML, _targets

    from sysid.closedloop import parse_actuators
    from sysid.data import Log
    from sysid.params import ParamSet
    from sysid.sim import Simulator

    xml = SERVO_XML.replace('<general name="servo_enable" joint="hinge" gainprm="0"/>',
                            '<general name="servo_enable" joint="hinge" gainprm="0"/>\n    <general name="servo_vin" joint="hinge" gainprm="0"/>')
    model = mujoco.MjModel.from_xml_string(xml)
    nstep = 500
    control = np.concatenate([_targets(1, nstep + 1, 5), np.zeros((1, nstep + 1, 1))], axis=2)
    control[0, :, 2] = 7.0 + np.sin(2 * np.pi * 1.3 * np.arange(nstep + 1) * DT)
    truth = parse_actuators("dcmotor@servo", model, {"dcmotor@servo": {"kt": 0.4, "R": 3.0, "inputs": {"vin": "servo_vin"}}})
    sim = Simulator(model, ParamSet([], model=model), nthread=1, loop=truth)
    states, _ = sim.rollout([copy.copy(model)], sim.initial_states(np.zeros((1, 1)), np.zeros((1, 1))), control[:, :-1])
    log = Log("run.csv", np.arange(nstep + 1) * DT, {"hinge": np.concatenate([[0.0], states[0, :, 1]])},
              {"hinge": np.concatenate([[0.0], states[0, :, 2]])}, {},
              {"servo": control[0, :, 0], "servo_enable": control[0, :, 1], "servo_vin": control[0, :, 2]})
    (tmp_path / "servo.xml").write_text(xml)
    write_csv(log, tmp_path / "run.csv")
    results = {}
    for name, inputs in (("logged", ", inputs: {vin: servo_vin}"), ("constant", "")):
        (tmp_path / "fit.yaml").write_text(f"actuators:\n  dcmotor@servo: {{vin: 7.0, kt: 0.3{inputs}}}\n"
                                           "horizons: [0.5]\noptimizer: lsq\nrefine_states: false\n")
        out = tmp_path / name
        assert main(["fit", "--model", str(tmp_path / "servo.xml"), "--log", str(tmp_path / "run.csv"), "--params", "",
                     "--actuator", "dcmotor@servo", "--config", str(tmp_path / "fit.yaml"), "--out", str(out), "--quiet"]) == 0
        results[name] = json.loads((out / "result.json").read_text())
    logged, constant = results["logged"], results["constant"]
    assert logged["params"]["kt@servo"]["value"] == pytest.approx(0.4, rel=1e-3)
    assert logged["params"]["R@servo"]["value"] == pytest.approx(3.0, rel=1e-3)
    assert json.loads((tmp_path / "logged" / "actuators.json").read_text())["models"][0]["inputs"] == {"vin": "servo_vin"}
    assert constant["rmse"]["hinge.pos"] > 10 * logged["rmse"]["hinge.pos"]
