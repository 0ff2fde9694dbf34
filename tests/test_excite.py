"""Excitation design: plans respect every limit in simulation, and their predicted standard errors
match the spread of fits over noisy repeats."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML

from sysid.data import Log
from sysid.excite import Actuation, ExciteConfig, Limits, Planner, design
from sysid.fit import FitConfig, fit
from sysid.params import parse_params

# A planar 2-link arm under gravity with position servos, joint ranges, ctrlrange and forcerange.
SERVO_XML = """\
<mujoco model="servo2">
  <compiler angle="radian"/>
  <option timestep="0.004" integrator="implicitfast"/>
  <worldbody>
    <body name="upper" pos="0 0 1">
      <joint name="shoulder" axis="0 1 0" range="-1.2 1.0" damping="0.8" frictionloss="0.2" armature="0.05"/>
      <inertial pos="0 0 -0.2" mass="1.5" diaginertia="0.02 0.02 0.002"/>
      <body name="fore" pos="0 0 -0.4">
        <joint name="elbow" axis="0 1 0" range="-1.5 1.5" damping="0.3" frictionloss="0.1" armature="0.02"/>
        <inertial pos="0 0 -0.15" mass="0.6" diaginertia="0.005 0.005 0.0005"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="shoulder_servo" joint="shoulder" kp="60" ctrlrange="-1.2 1.0" forcerange="-25 25"/>
    <position name="elbow_servo" joint="elbow" kp="20" ctrlrange="-1.5 1.5" forcerange="-8 8"/>
  </actuator>
</mujoco>
"""

# A slider with a velocity servo, and the pendulum with a limited motor.
VELOCITY_XML = """\
<mujoco model="slider">
  <option timestep="0.002"/>
  <worldbody>
    <body name="cart">
      <joint name="rail" type="slide" axis="1 0 0" range="-0.5 0.5" damping="2" frictionloss="0.5"/>
      <inertial pos="0 0 0" mass="2" diaginertia="0.01 0.01 0.01"/>
    </body>
  </worldbody>
  <actuator>
    <velocity name="drive" joint="rail" kv="40" ctrlrange="-1 1" forcerange="-60 60"/>
  </actuator>
</mujoco>
"""
MOTOR_XML = PENDULUM_XML.replace('<motor name="motor" joint="hinge"/>', '<motor name="motor" joint="hinge" ctrlrange="-4 4"/>')

FAST = dict(evaluations=8, popsize=8, search_windows=None, nthread=2, seed=0)


def _simulate(model: mujoco.MjModel, plan) -> dict[str, np.ndarray]:
    """Play a plan's commands on `model` with plain mj_step from the plan's first predicted state.

    Returns (T, J) position, velocity, acceleration (velocity change per step / dt), the command
    and the actuator force MuJoCo applied (clamped to any forcerange) at every model step.
    """
    act = Actuation.from_model(model)
    data = mujoco.MjData(model)
    data.qpos[act.qadr], data.qvel[act.dadr] = plan.qpos[0], plan.qvel[0]
    every = int(round((plan.time[1] - plan.time[0]) / model.opt.timestep))
    out = {k: [] for k in ("position", "velocity", "ctrl", "force")}
    for row in plan.ctrl[:-1]:
        for _ in range(every):
            out["position"].append(data.qpos[act.qadr].copy())
            out["velocity"].append(data.qvel[act.dadr].copy())
            data.ctrl[:] = row
            mujoco.mj_step(model, data)
            out["ctrl"].append(data.ctrl.copy())
            out["force"].append(data.actuator_force.copy())
    out = {k: np.array(v) for k, v in out.items()}
    out["acceleration"] = np.diff(out["velocity"], axis=0) / model.opt.timestep
    return out


CASES = [
    ("servo", SERVO_XML, "damping,kp", "fourier", {}),
    ("servo", SERVO_XML, "damping,frictionloss", "multisine", {}),
    ("servo", SERVO_XML, "armature", "chirp", {}),
    ("servo", SERVO_XML, "damping", "prbs", {}),
    ("velocity", VELOCITY_XML, "damping,frictionloss", "fourier", {"max_acc": 8.0}),
    ("velocity", VELOCITY_XML, "damping", "multisine", {}),
    ("motor", MOTOR_XML, "damping,armature", "fourier", {"amplitude": 1.0}),
    ("motor", MOTOR_XML, "damping", "chirp", {}),
]


@pytest.mark.parametrize("label, xml, params, family, extra", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_every_planned_trajectory_respects_every_limit(label, xml, params, family, extra):
    model = mujoco.MjModel.from_xml_string(xml)
    config = ExciteConfig(duration=1.0, family=family, max_vel=2.0, max_acc=extra.get("max_acc", 40.0),
                          amplitude=extra.get("amplitude", np.inf), max_freq=3.0, lines=3, **FAST)
    result = design(model, parse_params(params, model), config)
    act = Actuation.from_model(model)
    limits = Limits.from_model(model, act, model.qpos0[act.qadr], max_vel=config.max_vel, max_acc=config.max_acc, amplitude=config.amplitude)
    for plan in (result.plan, result.baseline):
        sim = _simulate(model, plan)
        assert np.all(sim["position"] >= limits.pos_lo) and np.all(sim["position"] <= limits.pos_hi)
        assert np.all(np.abs(sim["velocity"]) <= limits.vel)
        assert np.all(np.abs(sim["acceleration"]) <= limits.acc)
        assert np.all(plan.ctrl >= limits.ctrl_lo) and np.all(plan.ctrl <= limits.ctrl_hi)
        # A force limit reached would show as a clamped force exactly at the bound.
        assert np.all(sim["force"] > limits.force_lo) and np.all(sim["force"] < limits.force_hi)
        assert np.ptp(sim["position"], axis=0).min() > 0.01  # it does move every joint
    assert np.all(np.isfinite(result.plan.std)) and np.all(result.plan.std > 0)


def test_optimised_plan_beats_the_baseline_multisine():
    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    config = ExciteConfig(duration=1.5, max_vel=3.0, max_acc=40.0, max_freq=3.0, lines=3, **{**FAST, "evaluations": 32})  # 2 generations per search
    result = design(model, parse_params("damping,frictionloss,armature,kp", model), config)
    assert result.plan.criterion < result.baseline.criterion
    assert result.history[-1][1] <= result.history[0][1]


def _play(model: mujoco.MjModel, plan, seed: int, pos_noise: float, vel_noise: float) -> Log:
    """A noisy log of `model` playing the plan (one row per model step)."""
    rng = np.random.default_rng(seed)
    data = mujoco.MjData(model)
    data.qpos[0], data.qvel[0] = plan.qpos[0, 0], plan.qvel[0, 0]
    qpos, qvel = np.empty(len(plan.time)), np.empty(len(plan.time))
    for i, row in enumerate(plan.ctrl):
        qpos[i], qvel[i] = data.qpos[0], data.qvel[0]
        data.ctrl[:] = row
        mujoco.mj_step(model, data)
    qpos += rng.normal(0, pos_noise, qpos.shape)
    qvel += rng.normal(0, vel_noise, qvel.shape)
    return Log(f"repeat {seed}", plan.time, {"hinge": qpos}, {"hinge": qvel}, {}, {"motor": plan.ctrl[:, 0]})


@pytest.mark.filterwarnings("ignore:.*correlated")  # the fit notes that damping and friction are hard to separate
def test_predicted_std_matches_the_spread_of_fits_over_noisy_repeats(truth_model):
    params = parse_params("damping,armature,frictionloss", truth_model)
    config = ExciteConfig(duration=2.0, amplitude=1.0, max_vel=5.0, max_freq=3.0, lines=4, pos_noise=2e-3, vel_noise=2e-2, **FAST)
    planner = Planner(truth_model, params, config)
    try:
        plan = planner.finish(planner.family, planner.family.initial(np.random.default_rng(0)))
    finally:
        planner.close()
    fit_config = FitConfig(horizons=(config.horizon,), optimizer="lsq", nthread=2)
    values = np.array([fit(truth_model, [_play(truth_model, plan, seed, config.pos_noise, config.vel_noise)], params, fit_config,
                           progress=False).values for seed in range(12)])
    spread = values.std(axis=0, ddof=1)
    ratio = spread / plan.std
    assert np.all((ratio > 0.5) & (ratio < 2.0)), (spread, plan.std)


def test_config_rejects_bad_values():
    from sysid.errors import UserError

    for bad in (dict(duration=0.0), dict(duration=-1.0), dict(duration=float("nan")), dict(duration=1.0, family="square"),
                dict(duration=1.0, max_vel=0.0), dict(duration=1.0, min_freq=3.0, max_freq=2.0), dict(duration=1.0, criterion="e")):
        with pytest.raises(UserError):
            ExciteConfig(**bad)
    assert dataclasses.replace(ExciteConfig(duration=1.0), seed=3).seed == 3


def test_each_joint_is_searched_for_its_own_parameters():
    from sysid.excite.search import joint_groups, marginal_criterion

    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    params = parse_params("damping,kp@elbow_servo,mass@upper", model)  # mass belongs to no joint
    groups = joint_groups(params, Actuation.from_model(model))
    assert [params.names[i] for i in groups[0]] == ["damping@shoulder", "mass@upper"]
    assert [params.names[i] for i in groups[1]] == ["damping@elbow", "kp@elbow_servo", "mass@upper"]
    info = np.diag([4.0, 9.0, 16.0, 25.0])[None]
    info[0, 0, 1] = info[0, 1, 0] = 3.0  # correlated: the marginal information is smaller
    assert marginal_criterion(info, np.array([0]), "d")[0] == pytest.approx(-np.log(4.0 - 9.0 / 9.0))


def test_criteria_on_a_known_information_matrix():
    from sysid.excite.information import criterion

    info = np.array([[4.0, 2.0], [2.0, 3.0]])  # det 8; inverse [[3, -2], [-2, 4]] / 8
    assert criterion(info, "marginal") == pytest.approx(0.5 * (np.log(3 / 8) + np.log(4 / 8)))
    assert criterion(info, "d") == pytest.approx(-0.5 * np.log(8.0))
    eig = np.linalg.eigvalsh(info)
    assert criterion(info, "cond") == pytest.approx(np.log(eig[1] / eig[0]))
    # Rescaling a parameter (a change of units) shifts "marginal" by a constant: it ranks plans alike.
    scale = np.diag([10.0, 1.0])
    assert criterion(scale @ info @ scale, "marginal") == pytest.approx(criterion(info, "marginal") - np.log(10.0))
    # A batch, with a singular design scored as hopeless.
    batch = np.stack([info, np.diag([1.0, 0.0])])
    assert criterion(batch, "marginal")[1] == 1e6
    # The marginal criterion of a joint's block is the mean log of those entries of the inverse.
    from sysid.excite.search import marginal_criterion

    full = np.diag([4.0, 9.0, 16.0])[None]
    full[0, 0, 1] = full[0, 1, 0] = 3.0
    inverse = np.linalg.inv(full[0])
    assert marginal_criterion(full, np.array([0, 1]), "marginal")[0] == pytest.approx(np.mean(np.log(np.diag(inverse)[:2])))


def test_servo_feedforward_makes_the_motion_the_planned_one():
    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    config = ExciteConfig(duration=1.0, max_vel=2.0, max_acc=40.0, max_freq=3.0, lines=3, **FAST)
    planner = Planner(model, parse_params("damping", model), config)
    try:
        theta = planner.family.initial(np.random.default_rng(0)).reshape(2, -1)
        lag = {}
        for fraction in (0.0, 1.0):
            theta[:, -1] = fraction
            ctrl = planner.commands(planner.family, theta.ravel(), np.ones(2))
            if fraction == 0.0:
                planned = ctrl  # a bare target is the planned trajectory
            motion = planner.simulate(ctrl[None])[0]
            lag[fraction] = np.abs(motion["position"][0] - planned).max()
    finally:
        planner.close()
    assert lag[1.0] < 0.2 * lag[0.0], lag
