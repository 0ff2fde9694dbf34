"""Tests for sysid.closedloop: actuator models in the loop of batched rollouts."""

from __future__ import annotations

import copy

import mujoco
import numpy as np
import pytest

from actuator_models import DCMotorConfig, IdealPDConfig
from sysid.closedloop import Binding, ClosedLoop, parse_actuators
from sysid.data import Log
from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.params import ParamSet, parse_params
from sysid.sim import Simulator

# A servo pendulum: explicit Euler, so a position actuator's force is the same explicit PD law.
SERVO_XML = """\
<mujoco model="servo">
  <option timestep="0.002" integrator="Euler"/>
  <worldbody>
    <body name="arm">
      <joint name="hinge" type="hinge" axis="0 1 0" armature="0.002"/>
      <inertial pos="0 0 -0.1" mass="0.5" diaginertia="1e-4 1e-4 1e-4"/>
    </body>
  </worldbody>
  <actuator>
    <position name="servo" joint="hinge" kp="3" kv="0.05"/>
    <general name="servo_enable" joint="hinge" gainprm="0"/>
  </actuator>
</mujoco>
"""
DT = 0.002


@pytest.fixture(scope="module")
def servo() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(SERVO_XML)


def _targets(nbatch: int, nstep: int, seed: int = 0) -> np.ndarray:
    """(B, nstep, nu) smooth random position targets (rad) in ctrl[:, :, 0], enable = 1."""
    t = np.arange(nstep) * DT
    rng = np.random.default_rng(seed)
    f, phase = rng.uniform(0.5, 3, (nbatch, 1)), rng.uniform(0, 6, (nbatch, 1))
    control = np.ones((nbatch, nstep, 2))
    control[:, :, 0] = 0.8 * np.sin(2 * np.pi * f * t + phase)
    return control


def _simulator(model: mujoco.MjModel, loop: ClosedLoop | None, params: ParamSet | None = None) -> Simulator:
    params = params or ParamSet([], model=model)
    if loop is not None:
        loop.bind(params)
    return Simulator(model, params, nthread=1, loop=loop)


@pytest.mark.parametrize("nbatch", [1, 4])
def test_pd_in_the_loop_matches_mujocos_position_actuator(servo, nbatch):
    control = _targets(nbatch, 300)
    plain = _simulator(servo, None)
    initial = plain.initial_states(np.full((nbatch, 1), 0.1), np.zeros((nbatch, 1)))
    expected, ok = plain.rollout([servo] * nbatch, initial, control)
    loop = ClosedLoop(servo, [Binding("pd", "servo", IdealPDConfig(pd_kp=3.0, pd_kd=0.05))])
    sim = _simulator(servo, loop)
    models = [copy.copy(servo)] * nbatch
    states, ok_loop = sim.rollout(models, initial, control)
    assert ok.all() and ok_loop.all()
    np.testing.assert_allclose(states[:, :, 1:3], expected[:, :, 1:3], atol=1e-9)
    assert models[0].actuator_group[0] != 0 and servo.actuator_group[0] == 0  # the copies, not the input, are switched off


def _step_by_step(model: mujoco.MjModel, config, control: np.ndarray, q0: float, decimation: int) -> np.ndarray:
    """Reference: one MjData, mj_step, the model's torque recomputed every `decimation` steps."""
    model = copy.copy(model)
    model.actuator_gainprm[:] = 0
    model.actuator_biasprm[:] = 0
    actuator = config.build()
    actuator.reset(1, decimation * DT)
    data = mujoco.MjData(model)
    data.qpos[0] = q0
    qpos = []
    for k in range(control.shape[0]):
        if k % decimation == 0:
            data.qfrc_applied[0] = actuator.compute(control[k, :1], data.qpos[:1], data.qvel[:1])[0]
        mujoco.mj_step(model, data)
        qpos.append(data.qpos[0])
    return np.array(qpos)


@pytest.mark.parametrize("decimation", [1, 3])
def test_torque_is_held_over_the_control_period(servo, decimation):
    config = DCMotorConfig(kt=0.35, R=4.0, vin=7.4, duty_gain=1.0)
    control = _targets(1, 200)
    loop = ClosedLoop(servo, [Binding("dcmotor", "servo", config)], control_dt=decimation * DT)
    sim = _simulator(servo, loop)
    states, ok = sim.rollout([copy.copy(servo)], sim.initial_states(np.array([[0.2]]), np.zeros((1, 1))), control)
    np.testing.assert_allclose(states[0, :, 1], _step_by_step(servo, config, control[0], 0.2, decimation), atol=1e-9)


@pytest.mark.parametrize("nbatch", [2, 6])
def test_each_row_runs_with_its_own_values_and_log_settings(servo, nbatch):
    loop = ClosedLoop(servo, [Binding("dcmotor", "servo", DCMotorConfig(vin=7.4), per_log={"*fast*": {"gain": 3.0}})])
    params = ParamSet(loop.params(), model=servo)
    assert params.names == ["kt@servo", "R@servo"]
    sim = _simulator(servo, loop, params)
    values = np.column_stack([np.linspace(0.2, 0.5, nbatch), np.linspace(3, 6, nbatch)])
    sources = ["slow.csv", "fast.csv"] * (nbatch // 2)
    control = _targets(nbatch, 150, seed=3)
    initial = sim.initial_states(np.zeros((nbatch, 1)), np.zeros((nbatch, 1)))
    states, _ = sim.rollout([copy.copy(servo)] * nbatch, initial, control, values=values, sources=sources)
    for i in range(nbatch):
        config = DCMotorConfig(kt=values[i, 0], R=values[i, 1], vin=7.4, gain=3.0 if "fast" in sources[i] else 1.0)
        np.testing.assert_allclose(states[i, :, 1], _step_by_step(servo, config, control[i], 0.0, 1), atol=1e-9)


def test_lanes_on_several_threads_give_the_rows_of_one_lane(servo):
    from actuator_models import DelayedPDConfig

    loop = ClosedLoop(servo, [Binding("dcmotor", "servo", DCMotorConfig(vin=7.4), per_log={"*fast*": {"gain": 3.0}}),
                              Binding("delayed_pd", "servo", DelayedPDConfig(pd_kp=0.5, pd_delay=0.005), enable="servo_enable")],
                      control_dt=2 * DT)
    params = ParamSet(loop.params(), model=servo)
    nbatch = 37  # lanes of unequal size
    values = np.column_stack([np.linspace(0.2, 0.5, nbatch), np.linspace(3, 6, nbatch), np.full(nbatch, 0.5), np.full(nbatch, 0.01),
                              np.linspace(0.002, 0.01, nbatch)])
    sources = [["slow.csv", "fast.csv"][i % 2] for i in range(nbatch)]
    control = _targets(nbatch, 101, seed=5)  # not a whole number of control periods
    results = []
    for nthread in (1, 3):
        loop.bind(params)
        sim = Simulator(servo, params, nthread=nthread, loop=loop)
        initial = sim.initial_states(np.linspace(-0.3, 0.3, nbatch)[:, None], np.zeros((nbatch, 1)))
        states, ok = sim.rollout([copy.copy(servo)] * nbatch, initial, control, values=values, sources=sources)
        assert ok.all() and sim.steps == nbatch * 101
        results.append(states)
        sim.close()
    assert len(loop._lane_models) == 3
    np.testing.assert_array_equal(results[0], results[1])


def test_enable_column_switches_the_torque_off(servo):
    loop = ClosedLoop(servo, [Binding("pd", "servo", IdealPDConfig(pd_kp=3.0), enable="servo_enable")])
    sim = _simulator(servo, loop)
    control = _targets(2, 100)
    control[1, :, 1] = 0.0  # row 1: torque disabled, the pendulum only swings
    states, _ = sim.rollout([copy.copy(servo)] * 2, sim.initial_states(np.full((2, 1), 0.3), np.zeros((2, 1))), control)
    free = copy.copy(servo)
    free.actuator_gainprm[:] = 0
    free.actuator_biasprm[:] = 0
    expected, _ = _simulator(free, None).rollout([free], states[1:, 0] * 0 + sim.initial_states(np.full((1, 1), 0.3), np.zeros((1, 1))), control[1:])
    np.testing.assert_allclose(states[1, :, 1], expected[0, :, 1], atol=1e-9)
    assert np.abs(states[0, :, 1] - states[1, :, 1]).max() > 0.05


def test_a_logged_supply_voltage_drives_the_dc_motor(servo):
    """`inputs: {vin: servo_enable}` reads vin from that column every control step (here the enable
    actuator's column doubles as the voltage column): torque = kt (duty vin - kt qd) / R."""
    config = DCMotorConfig(kt=0.5, R=2.0, vin=12.0, duty_gain=0.1)
    loop = parse_actuators("dcmotor@servo", servo, {"dcmotor@servo": {"kt": 0.5, "R": 2.0, "vin": 12.0, "duty_gain": 0.1,
                                                                        "inputs": {"vin": "servo_enable"}}})
    for m in loop.models:
        m.reset(3, DT)
    qpos, qvel = np.array([[0.0], [0.1], [0.0]]), np.array([[0.0], [0.0], [2.0]])
    ctrl = np.array([[1.0, 6.0], [1.0, 3.0], [1.0, 6.0]])  # target 1 rad; supply 6, 3, 6 V
    expected = 0.5 * (0.1 * (1.0 - qpos[:, 0]) * ctrl[:, 1] - 0.5 * qvel[:, 0]) / 2.0
    np.testing.assert_allclose(loop.forces(qpos, qvel, ctrl)[:, 0], expected)
    fixed = ClosedLoop(servo, [Binding("dcmotor", "servo", config)])
    for m in fixed.models:
        m.reset(3, DT)
    assert not np.allclose(fixed.forces(qpos, qvel, ctrl)[:, 0], expected)  # 12 V without the column


def _servo_log(model: mujoco.MjModel, config: DCMotorConfig, seconds: float, seed: int, source: str) -> Log:
    nstep = int(seconds / DT)
    control = _targets(1, nstep + 1, seed)
    loop = ClosedLoop(model, [Binding("dcmotor", "servo", config)])
    sim = _simulator(model, loop)
    states, _ = sim.rollout([copy.copy(model)], sim.initial_states(np.zeros((1, 1)), np.zeros((1, 1))), control[:, :-1])
    qpos = np.concatenate([[0.0], states[0, :, 1]])
    qvel = np.concatenate([[0.0], states[0, :, 2]])
    time = np.arange(nstep + 1) * DT
    return Log(source, time, {"hinge": qpos}, {"hinge": qvel}, {}, {"servo": control[0, :, 0], "servo_enable": control[0, :, 1]})


def test_fit_recovers_dc_motor_constants_through_the_rollout_loss(servo):
    truth = DCMotorConfig(kt=0.4, R=3.0, vin=7.4, duty_gain=0.8)
    logs = [_servo_log(servo, truth, 1.5, seed, f"run{seed}.csv") for seed in (1, 2)]
    loop = parse_actuators("dcmotor@servo", servo, {"dcmotor@servo": {"kt": 0.3, "R": 4.0, "vin": 7.4, "duty_gain": 0.8}})
    params = parse_params("", servo, extra=loop.params())
    result = fit(servo, logs, params, FitConfig(horizons=(0.3, 1.0), optimizer="lsq", refine_states=False, nthread=1), progress=False, loop=loop)
    np.testing.assert_allclose(result.values, [0.4, 3.0], rtol=1e-3)
    assert result.rmse_final["hinge.pos"] < 1e-5


@pytest.mark.parametrize(("text", "options", "message"), [
    ("stepper@servo", {}, "unknown actuator model 'stepper'"),
    ("dcmotor@nothing", {}, "no actuator or joint named 'nothing'"),
    ("dcmotor", {}, "must be MODEL@TARGET"),
    ("dcmotor@servo", {"dcmotor@servo": {"volts": 3}}, "unknown setting(s) volts"),
    ("dcmotor@servo", {"dcmotor@servo": {"fit": ["L"]}}, "cannot fit 'L'"),
    ("dcmotor@servo", {"pd@servo": {}}, "match no --actuator item"),
    ("dcmotor@servo", {"control_dt": 0.003}, "not a whole multiple"),
    ("dcmotor@servo", {"dcmotor@servo": {"inputs": {"kt": "servo_enable"}}}, "'kt' cannot come from a log; dcmotor takes vin"),
    ("dcmotor@servo", {"dcmotor@servo": {"inputs": {"vin": "supply"}}}, "no actuator or joint named 'supply'"),
    ("dcmotor@servo", {"dcmotor@servo": {"inputs": ["vin"]}}, "inputs must map settings to actuator names"),
])
def test_bad_actuator_specs_are_user_errors(servo, text, options, message):
    with pytest.raises(UserError, match=None) as error:
        parse_actuators(text, servo, options)
    assert message in str(error.value)


def test_actuator_numbers_cannot_be_given_in_params(servo):
    parse_actuators("dcmotor@servo", servo).params()  # registers the kinds
    with pytest.raises(UserError, match="--actuator"):
        parse_params("kt@servo", servo)
