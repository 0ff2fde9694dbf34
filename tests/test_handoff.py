"""The handoff of fits with actuator models and residual dynamics, and randomization ranges that
cover how much the parameters move between logs (`sysid export`, `make_env`, `sample_model`)."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
import yaml

gym = pytest.importorskip("gymnasium")
from conftest import PENDULUM_XML, make_log, with_values, write_csv  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

from sysid.bundle import load_bundle, sample_model  # noqa: E402
from sysid.cli import main  # noqa: E402
from sysid.closedloop import load_actuators, parse_actuators  # noqa: E402
from sysid.envs import make_env  # noqa: E402
from sysid.params import ParamSet  # noqa: E402
from sysid.randomization import from_result  # noqa: E402
from sysid.sim import Simulator  # noqa: E402

# A position servo whose MJCF actuator a fitted PD model (`--actuator pd@servo`) replaces.
SERVO_XML = """\
<mujoco model="servo">
  <option timestep="0.002"/>
  <worldbody>
    <body name="arm" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.01"/>
      <inertial pos="0 0 -0.1" mass="0.5" diaginertia="1e-3 1e-3 1e-4"/>
    </body>
  </worldbody>
  <actuator>
    <position name="servo" joint="hinge" kp="3" kv="0.05" ctrlrange="-1.5 1.5"/>
  </actuator>
</mujoco>
"""


def _fit_folder(folder, xml, params, files=None):
    """A `sysid fit` output folder: calibrated.xml, result.json and extra JSON files."""
    folder.mkdir(parents=True)
    (folder / "calibrated.xml").write_text(xml)
    result = {"params": params, "loss": {"initial": 2.0, "final": 1.0}, "optimizer": "lsq", "seed": 0, "logs": [], "version": "0.1.0"}
    for name, content in (files or {}).items():
        (folder / name).write_text(json.dumps(content))
        result["actuator_models"] = [name]
    (folder / "result.json").write_text(json.dumps(result))
    return folder


@pytest.fixture(scope="module")
def servo_bundle(tmp_path_factory):
    """A bundle of a fit with `--actuator pd@servo` (actuators.json as `sysid fit` writes it)."""
    from actuator_models.commands import actuators_summary

    tmp = tmp_path_factory.mktemp("servo")
    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    loop = parse_actuators("pd@servo", model, {"pd@servo": {"pd_kp": 2.0, "pd_kd": 0.05}, "control_dt": 0.004})
    actuators = actuators_summary(loop, ["pd_kp@servo", "pd_kd@servo"], np.array([2.5, 0.04]))
    params = {"pd_kp@servo": {"value": 2.5, "initial": 2.0, "lower": 0.02, "upper": 200.0, "std": 0.05, "unit": "N m/rad"},
              "pd_kd@servo": {"value": 0.04, "initial": 0.05, "lower": 5e-4, "upper": 5.0, "std": 0.002, "unit": "N m s/rad"},
              "damping@hinge": {"value": 0.01, "initial": 0.02, "lower": 0.0, "upper": 1.0, "std": 0.001}}
    calib = _fit_folder(tmp / "calib", SERVO_XML, params, {"actuators.json": actuators})
    assert main(["export", str(calib), "--out", str(tmp / "bundle")]) == 0
    return tmp / "bundle"


def test_a_bundle_with_actuator_models_passes_gymnasiums_checker(servo_bundle):
    with pytest.warns(UserWarning):  # the checker's note on an unbounded observation space
        check_env(make_env(servo_bundle, task="reach"), skip_render_check=True)


def test_the_env_runs_the_actuator_model_as_the_fits_simulator_does(servo_bundle):
    """Same commands, same start: the env's state equals a rollout of the fit's Simulator with the
    fit's closed loop (actuators.json at its fitted values, MJCF servo off)."""
    seen = []
    env = make_env(servo_bundle, task="reach", randomize=False, delay=0.0, actuator=lambda m, d, u: seen.append(u.copy()) or u)
    env.reset(seed=0)
    qpos0, qvel0 = env.data.qpos.copy(), env.data.qvel.copy()
    for a in np.random.default_rng(0).uniform(-1, 1, (15, 1)):
        env.step(a)
    model = mujoco.MjModel.from_xml_path(str(servo_bundle / "calibrated.xml"))
    loop = load_actuators(servo_bundle / "actuator_models" / "actuators.json", model, randomized=True)
    params = ParamSet(loop.params(), model=model)
    loop.bind(params)
    sim = Simulator(model, params, nthread=1, loop=loop)
    states, ok = sim.rollout([model], sim.initial_states(qpos0[None], qvel0[None]), np.array(seen)[None], values=params.initial[None])
    assert ok[0] and loop.decimation == 2 and env.model.actuator_group[0] == 30  # the MJCF servo is off in the env too
    np.testing.assert_allclose(env.data.qpos, states[0, -1, sim.qpos_slice], atol=1e-10)
    assert abs(env.data.qpos[0] - qpos0[0]) > 1e-2  # it moved


def test_each_episode_draws_the_actuator_models_numbers(servo_bundle):
    env = make_env(servo_bundle, task="reach")
    gains = []
    for seed in range(3):
        _, info = env.reset(seed=seed)
        assert env.loop.actuators[0].kp[0] == pytest.approx(info["params"]["pd_kp@servo"])  # in the model the loop runs
        assert env.model.dof_damping[0] == pytest.approx(info["params"]["damping@hinge"])
        gains.append(info["params"]["pd_kp@servo"])
    assert len(set(gains)) == 3


def test_sample_model_returns_the_step_loop_with_the_draw(servo_bundle):
    sampled = sample_model(servo_bundle, np.random.default_rng(1))
    assert sampled.loop.names == ["pd_kp@servo", "pd_kd@servo"]
    assert sampled.loop.actuators[0].kd[0] == pytest.approx(sampled.values["pd_kd@servo"])
    data = mujoco.MjData(sampled.model)
    data.qpos[0] = 0.3
    sampled.loop.before_step(data, np.array([0.0]))
    # the PD torque toward 0 from 0.3 rad, set as the generalized force; the MJCF servo adds nothing
    assert data.qfrc_applied[0] == pytest.approx(-sampled.values["pd_kp@servo"] * 0.3)
    mujoco.mj_forward(sampled.model, data)
    assert data.actuator_force[0] == 0.0
    assert load_bundle(servo_bundle).params.names == ["damping@hinge"]  # the rest are the loop's


def test_a_bundle_with_residual_dynamics_passes_the_checker_and_runs_the_residual(tmp_path):
    pytest.importorskip("torch")
    from actuator_models.residual import ResidualConfig, save_residual, train_residual

    xml = PENDULUM_XML.replace('<motor name="motor" joint="hinge"/>', '<motor name="motor" joint="hinge" ctrlrange="-3 3"/>')
    model = mujoco.MjModel.from_xml_string(xml)
    x = np.random.default_rng(0).uniform(-1, 1, (200, 3))
    ensemble = train_residual(x, 0.1 * x[:, 1:2], ResidualConfig(members=2, hidden=(8,), epochs=3), model=model)
    save_residual(tmp_path / "residual", ensemble, model, {"delay": 0.0})
    calib = _fit_folder(tmp_path / "calib", xml, {"damping@hinge": {"value": 0.2, "lower": 0.0, "upper": 5.0, "std": 0.01}})
    assert main(["export", str(calib), "--out", str(tmp_path / "bundle"), "--residual", str(tmp_path / "residual")]) == 0
    assert sorted(p.name for p in (tmp_path / "bundle" / "residual").iterdir()) == ["residual.json", "residual.npz"]
    env = make_env(tmp_path / "bundle", task="swingup", episode_s=0.4)
    with pytest.warns(UserWarning):
        check_env(env, skip_render_check=True)
    env.reset(seed=0)
    rows = env.residual.report()["rows"]  # counted since it was loaded (the checker stepped it too)
    env.step(np.array([0.3]))
    assert env.residual.report()["rows"] - rows == env.substeps  # once per model step, as in the fit's loop
    force = env.residual.compute(env.data.qpos[None], env.data.qvel[None], env.data.ctrl[None])
    assert np.abs(force).max() > 0


def test_a_residual_trained_with_another_delay_is_refused(tmp_path, capsys):
    pytest.importorskip("torch")
    from actuator_models.residual import ResidualConfig, save_residual, train_residual

    model = mujoco.MjModel.from_xml_string(PENDULUM_XML)
    x = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    save_residual(tmp_path / "residual", train_residual(x, x[:, :1], ResidualConfig(members=2, hidden=(4,), epochs=1), model=model),
                  model, {"delay": 0.0})
    calib = _fit_folder(tmp_path / "calib", PENDULUM_XML, {"delay": {"value": 0.01, "lower": 0.0, "upper": 0.1, "std": 0.001}})
    assert main(["export", str(calib), "--out", str(tmp_path / "bundle"), "--residual", str(tmp_path / "residual")]) == 2
    assert "trained with an actuation delay of 0.0 s, the fit's is 0.01 s" in capsys.readouterr().err


# --- randomization ranges: standard errors, spread across logs or folds, floor ---------------------

def test_ranges_from_a_three_log_fit_cover_the_cross_log_spread(tmp_path):
    """Logs of slightly different robots (damping 0.17, 0.20, 0.23): the Jacobian's standard error
    of the joint fit is far below that spread; the randomization's scale is at least it."""
    nominal = mujoco.MjModel.from_xml_string(PENDULUM_XML)
    truths = [0.17, 0.20, 0.23]
    (tmp_path / "pendulum.xml").write_text(PENDULUM_XML)
    logs = []
    for i, damping in enumerate(truths):
        truth = with_values(nominal, {"damping@hinge": damping, "armature@hinge": 0.02, "frictionloss@hinge": 0.1})
        logs += ["--log", str(write_csv(make_log(truth, 1.0, seed=10 + i), tmp_path / f"run{i}.csv"))]
    (tmp_path / "fit.yaml").write_text("horizons: [0.5]\n")
    assert main(["fit", "--model", str(tmp_path / "pendulum.xml"), *logs, "--params", "damping,armature,frictionloss", "--optimizer", "lsq",
                 "--config", str(tmp_path / "fit.yaml"), "--out", str(tmp_path / "calib"), "--quiet", "--check", "off"]) == 0
    result = json.loads((tmp_path / "calib" / "result.json").read_text())
    per_log = result["spread"]["values"]["damping@hinge"]
    np.testing.assert_allclose(per_log, truths, atol=0.01)  # the refits find each log's own damping
    spread = np.std(per_log, ddof=1)
    assert 2 * result["params"]["damping@hinge"]["std"] < spread / 3  # what the standard error alone gave
    assert "<th>std across logs</th>" in (tmp_path / "calib" / "report.html").read_text()
    assert main(["export", str(tmp_path / "calib"), "--out", str(tmp_path / "bundle")]) == 0
    entry = yaml.safe_load((tmp_path / "bundle" / "randomization.yaml").read_text())["params"]["damping@hinge"]
    assert entry["spread_std"] == pytest.approx(spread)
    assert entry["scale"] * entry["centre"] >= spread  # lognormal: scale is relative
    assert entry["std"] >= 0.95 * spread


def test_fold_values_give_the_spread_when_there_are_no_per_log_refits():
    params = {"mass@a": {"value": 1.0, "lower": 0.1, "upper": 10.0, "std": 1e-4}}
    folds = [{"params": {"mass@a": v}} for v in (0.9, 1.0, 1.1)]
    r = from_result({"params": params, "cv": {"folds": folds}}, widen=2.0, min_width=0.0)
    assert r.spread_source == "cross-validation folds"
    assert r.params["mass@a"].scale == pytest.approx(np.hypot(2e-4, 0.1))


def test_min_width_is_a_floor_relative_to_the_value(tmp_path, capsys):
    params = {"mass@a": {"value": 2.0, "lower": 0.1, "upper": 10.0, "std": 1e-4},
              "com@a.z": {"value": -0.5, "lower": -1.0, "upper": 1.0, "std": 1e-5}}
    r = from_result({"params": params}, widen=2.0, min_width=0.05)
    assert r.params["mass@a"].scale == pytest.approx(0.05)  # lognormal: relative
    assert r.params["com@a.z"].scale == pytest.approx(0.025)  # normal: 5% of |-0.5| m
    assert from_result({"params": params}, min_width=0.0).params["mass@a"].scale == pytest.approx(1e-4)
    calib = _fit_folder(tmp_path / "calib", PENDULUM_XML, {"damping@hinge": {"value": 0.2, "lower": 0.0, "upper": 5.0, "std": 0.01}})
    assert main(["export", str(calib), "--out", str(tmp_path / "b"), "--min-width", "-0.1"]) == 2
    assert "--min-width must be a fraction from 0 to 1" in capsys.readouterr().err


def test_uniform_ranges_keep_the_mean_and_std_for_trainers_with_uniform_events():
    r = from_result({"params": {"mass@a": {"value": 2.0, "lower": 0.1, "upper": 10.0, "std": 0.05},
                                "com@a.z": {"value": -0.5, "lower": -0.52, "upper": 1.0, "std": 0.01}}}, widen=2.0, min_width=0.0)
    mass = r.params["mass@a"]
    low, high = mass.uniform_range()
    mean, std = mass.moments()
    assert (low + high) / 2 == pytest.approx(mean) and (high - low) / np.sqrt(12) == pytest.approx(std)
    assert mass.uniform_range(relative=True) == pytest.approx((low / 2.0, high / 2.0))  # operation "scale"
    assert r.params["com@a.z"].uniform_range()[0] == -0.52  # clipped to the fit's bound
    assert r.params["com@a.z"].uniform_range(relative=True)[0] < 1 < r.params["com@a.z"].uniform_range(relative=True)[1]
