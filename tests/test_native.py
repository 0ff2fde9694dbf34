"""MuJoCo-native actuator features in calibrated.xml: the fitted delay replays in plain MuJoCo."""

from __future__ import annotations

import copy
import types

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import mujoco
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from conftest import DERIVED_FIELDS, PENDULUM_XML, changed_fields, make_log, truth_model  # noqa: F401  (fixture)

from sysid import inertial, native
from sysid.config import load_config
from sysid.errors import UserError
from sysid.mjcf import converted_model
from sysid.export import calibrated_xml
from sysid.params import parse_params
from sysid.track import bind_log
from sysid.validate import prediction_errors, rmse


def plain_replay(xml_path: str, time: np.ndarray, command: np.ndarray, qpos0: np.ndarray, qvel0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replay a log in plain MuJoCo: no sysid code, the command held between rows, the first one held before.

    Args:
      time: (N,) s, log times on the model's step grid; command: (N, nu); qpos0, qvel0: the first state.
    Returns:
      (N, nq), (N, nv) simulated positions and velocities at the log times.
    """
    model = mujoco.MjModel.from_xml_path(xml_path)
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = qpos0, qvel0
    for a in range(model.nu):  # before the first row the robot held the first command
        if model.actuator_history[a, 0] > 0:
            mujoco.mj_initCtrlHistory(model, data, a, None, np.full(model.actuator_history[a, 0], command[0, a]))
    steps = np.round((time - time[0]) / model.opt.timestep).astype(int)
    qpos, qvel = [data.qpos.copy()], [data.qvel.copy()]
    for i in range(1, len(time)):
        data.ctrl[:] = command[i - 1]
        for _ in range(steps[i] - steps[i - 1]):
            mujoco.mj_step(model, data)
        qpos.append(data.qpos.copy())
        qvel.append(data.qvel.copy())
    return np.array(qpos), np.array(qvel)


@pytest.mark.parametrize("delay, every", [(0.0123, 1), (0.02, 1), (0.0123, 5), (0.0, 1)])
def test_calibrated_xml_with_a_delay_replays_in_plain_mujoco_as_sysid_does(truth_model, tmp_path, delay, every):  # noqa: F811
    n = 1501
    rows = None if every == 1 else np.arange(0, n, every)
    log = make_log(truth_model, (n - 1) * truth_model.opt.timestep, seed=3, noise=False, delay=0.015, rows=rows)
    path = tmp_path / "pendulum.xml"
    path.write_text(PENDULUM_XML)
    model = mujoco.MjModel.from_xml_path(str(path))
    ps = parse_params("damping@hinge,delay", model)
    values = np.array([0.25, delay])
    out = tmp_path / "calibrated.xml"
    out.write_text(calibrated_xml(path, model, types.SimpleNamespace(params=ps, values=values), provenance="test"))
    calibrated = mujoco.MjModel.from_xml_path(str(out))
    assert calibrated.actuator_delay[0] == pytest.approx(delay)

    ours = rmse(prediction_errors(model, ps, values, [log], horizon=None))[0]
    track = bind_log(log, model)
    qpos, qvel = plain_replay(str(out), log.time, track.ctrl, track.qpos[0], track.qvel[0])
    plain = {"hinge.pos": float(np.sqrt(np.mean((qpos[1:, 0] - log.pos["hinge"][1:]) ** 2))),
             "hinge.vel": float(np.sqrt(np.mean((qvel[1:, 0] - log.vel["hinge"][1:]) ** 2)))}
    assert ours["hinge.pos"] > 1e-3  # the values are not the truth: there is an error to reproduce
    for name in plain:
        assert plain[name] == pytest.approx(ours[name], rel=1e-6), name


def test_a_delay_below_one_timestep_is_written_with_a_warning(truth_model, tmp_path):  # noqa: F811
    path = tmp_path / "pendulum.xml"
    path.write_text(PENDULUM_XML)
    model = mujoco.MjModel.from_xml_path(str(path))
    ps = parse_params("delay", model)
    with pytest.warns(UserWarning, match="below one timestep"):
        xml = calibrated_xml(path, model, types.SimpleNamespace(params=ps, values=np.array([0.001])), provenance="t")
    assert 'delay="0.001"' in xml




NATIVE_XML = """\
<mujoco model="native">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="upper" pos="0 0 1">
      <joint name="shoulder" axis="0 1 0"/>
      <inertial pos="0 0 -0.2" mass="1.0" diaginertia="0.01 0.01 0.001"/>
      <body name="fore" pos="0 0 -0.4">
        <joint name="elbow" axis="0 1 0"/>
        <inertial pos="0 0 -0.2" mass="0.5" diaginertia="0.005 0.005 0.001"/>
        <body name="hand" pos="0 0 -0.4">
          <joint name="wrist" axis="0 1 0"/>
          <inertial pos="0 0 -0.05" mass="0.2" diaginertia="0.001 0.001 0.001"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="m" joint="shoulder" forcerange="-2 2" ctrlrange="-3 3"/>
    <pid name="p" joint="elbow" kp="20" kv="1" ki="5" imax="0.5" input="pos"/>
    <dcmotor name="dc" joint="wrist" motorconst="0.05" resistance="1.5" input="ff" controller="0 0 0 0 0 12" saturation="0.8 0 0"/>
    <position name="s" joint="wrist" kp="10" kv="0.5"/>
  </actuator>
</mujoco>
"""

# The MjModel arrays each native kind writes.
NATIVE_FIELDS = {
    "forcerange": {"actuator_forcerange"}, "ctrlrange": {"actuator_ctrlrange"}, "kp": {"actuator_gainprm", "actuator_biasprm"},
    "kv": {"actuator_biasprm"}, "ki": {"actuator_gainprm"}, "imax": {"actuator_dynprm"}, "resistance": {"actuator_gainprm"},
    "motorconst": {"actuator_gainprm"}, "vmax": {"actuator_gainprm"}, "com": {"body_ipos"},
}


@pytest.fixture
def native_path(tmp_path):
    path = tmp_path / "native.xml"
    path.write_text(NATIVE_XML)
    return path


@pytest.mark.parametrize("text, names", [
    ("forcerange", ["forcerange@m", "forcerange@dc"]),
    ("forcerange@m.lo,ctrlrange@m.hi", ["forcerange@m.lo", "ctrlrange@m.hi"]),
    ("kp,kv", ["kp@p", "kp@dc", "kp@s", "kv@p", "kv@s"]),
    ("ki,imax", ["ki@p", "imax@p"]),
    ("resistance,motorconst,vmax", ["resistance@dc", "motorconst@dc", "vmax@dc"]),
    ("com@fore.z,com@upper.x", ["com@fore.z", "com@upper.x"]),
])
def test_native_kinds_are_written_into_the_model_and_into_calibrated_xml(native_path, tmp_path, text, names):
    model = mujoco.MjModel.from_xml_path(str(native_path))
    overrides = {"kp@dc": {"initial": 5.0}}  # the dcmotor's controller has no kp yet
    ps = parse_params(text, model, overrides=overrides if "kp" in text else None)
    assert ps.names == names
    values = ps.from_unit(np.full(len(ps), 0.7))
    assert not np.allclose(values, ps.initial)
    xml = calibrated_xml(native_path, model, types.SimpleNamespace(params=ps, values=values), provenance="t")
    (tmp_path / "calibrated.xml").write_text(xml)
    compiled = mujoco.MjModel.from_xml_path(str(tmp_path / "calibrated.xml"))
    expected = copy.copy(model)
    ps.write(expected, values, mujoco.MjData(expected))
    assert changed_fields(compiled, expected, rtol=1e-9, atol=1e-12) == set()
    moved = changed_fields(compiled, model, rtol=1e-9, atol=1e-12)
    assert moved - DERIVED_FIELDS == set().union(*(NATIVE_FIELDS[p.kind] for p in ps))
    for p, v in zip(ps, values):  # each value reads back from the compiled model
        if p.kind != "com":
            assert native.read(compiled, compiled.actuator(p.target).id, p.kind, p.index) == pytest.approx(v, rel=1e-12)


def test_a_fitted_torque_limit_clips_the_simulated_force(native_path):
    model = mujoco.MjModel.from_xml_path(str(native_path))
    ps = parse_params("forcerange@m", model)
    data = mujoco.MjData(model)
    ps.write(model, np.array([0.7]), data)
    data.ctrl[0] = 2.5
    mujoco.mj_forward(model, data)
    assert data.actuator_force[0] == pytest.approx(0.7)


def test_a_range_the_actuator_lacks_needs_an_initial_value(native_path):
    model = mujoco.MjModel.from_xml_path(str(native_path))
    with pytest.raises(UserError, match=r"forcerange@p: the actuator has no forcerange to start from; set params"):
        parse_params("forcerange@p", model)
    ps = parse_params("forcerange@p", model, overrides={"forcerange@p": {"initial": 3.0}})
    assert (ps[0].initial, ps[0].lower, ps[0].upper) == (3.0, pytest.approx(0.3), pytest.approx(30.0))


def test_a_motor_converted_to_a_dcmotor_is_fitted_and_written_as_one(native_path, tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text("convert:\n  m: {to: dcmotor, motorconst: 0.1, resistance: 2, controller: [0, 0, 0, 0, 0, 48]}\n")
    conversions = load_config(config).convert
    model, _ = converted_model(native_path, conversions)
    a = model.actuator("m").id
    assert native.family(model, a) == "dcmotor"
    assert model.actuator_forcerange[a, 1] == 2.0  # the motor's torque limit became the dcmotor's saturation
    data = mujoco.MjData(model)
    data.ctrl[a] = 1.5  # a torque command, delivered while below the limits
    mujoco.mj_forward(model, data)
    assert data.actuator_force[a] == pytest.approx(1.5)
    ps = parse_params("motorconst@m,vmax@m,forcerange@m", model)
    values = ps.from_unit(np.full(3, 0.6))
    xml = calibrated_xml(native_path, model, types.SimpleNamespace(params=ps, values=values), provenance="t",
                         conversions=conversions)
    assert "<dcmotor" in xml and "<motor" not in xml
    (tmp_path / "calibrated.xml").write_text(xml)
    compiled = mujoco.MjModel.from_xml_path(str(tmp_path / "calibrated.xml"))
    expected = copy.copy(model)
    ps.write(expected, values, mujoco.MjData(expected))
    assert changed_fields(compiled, expected, rtol=1e-9, atol=1e-12) == set()


@pytest.mark.parametrize("text, message", [
    ("convert:\n  m: {to: dcmotor, kp: 3}\n", r"convert.m: kp is not an attribute of <dcmotor>"),
    ("convert:\n  m: {to: servo}\n", r"convert.m.to must be dcmotor or pid"),
    ("convert: [m]\n", r"'convert' must map actuator names"),
])
def test_bad_conversions_fail_with_one_line(tmp_path, text, message):
    config = tmp_path / "fit.yaml"
    config.write_text(text)
    with pytest.raises(UserError, match=message):
        load_config(config)


def test_converting_a_missing_actuator_names_it(native_path, tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text("convert:\n  nope: {to: pid, kp: 3}\n")
    with pytest.raises(UserError, match=r"config: convert: no actuator named 'nope'"):
        converted_model(native_path, load_config(config).convert)


# --- the log-Cholesky inertial: every candidate is a physical body ---------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # read-only file
@given(u=hnp.arrays(np.float64, 20, elements=st.floats(0.0, 1.0)))
def test_every_log_cholesky_candidate_compiles_and_passes_mujocos_inertia_checks(native_path, tmp_path_factory, u):
    model = mujoco.MjModel.from_xml_path(str(native_path))
    ps = parse_params("inertial@upper,inertial@fore", model)
    values = ps.from_unit(u)
    fitted = copy.copy(model)
    ps.write(fitted, values, mujoco.MjData(fitted))
    for body in ("upper", "fore"):
        b = fitted.body(body).id
        a, bb, c = fitted.body_inertia[b]
        assert fitted.body_mass[b] > 0 and min(a, bb, c) > 0 and a + bb >= c * (1 - 1e-9) and a + c >= bb * (1 - 1e-9) and bb + c >= a * (1 - 1e-9)
        theta = inertial.theta_from_body(fitted, b)  # the written body reads back as the candidate
        np.testing.assert_allclose(theta, values[[p.target == body for p in ps]], rtol=1e-7, atol=1e-9)
    xml = calibrated_xml(native_path, model, types.SimpleNamespace(params=ps, values=values), provenance="t")
    path = tmp_path_factory.mktemp("calib") / "calibrated.xml"
    path.write_text(xml)
    compiled = mujoco.MjModel.from_xml_path(str(path))  # MuJoCo's compiler checks mass and inertia
    assert changed_fields(compiled, fitted, rtol=1e-8, atol=1e-12) == set()


def test_log_cholesky_starts_at_the_models_body(native_path):
    model = mujoco.MjModel.from_xml_path(str(native_path))
    ps = parse_params("inertial@fore", model)
    assert ps.names == [f"inertial@fore.{n}" for n in inertial.NAMES]
    b = model.body("fore").id
    assert np.exp(2 * ps.initial[0]) == pytest.approx(model.body_mass[b])  # alpha = log(m) / 2
    np.testing.assert_allclose(ps.initial[7:], model.body_ipos[b], atol=1e-12)  # t = the centre of mass
    out = copy.copy(model)
    ps.write(out, ps.initial, mujoco.MjData(out))
    assert changed_fields(out, model, rtol=1e-9, atol=1e-12) <= {"body_iquat", "body_inertia"}
    np.testing.assert_allclose(_inertia_in_body_frame(out, b), _inertia_in_body_frame(model, b), atol=1e-12)  # same body


def _inertia_in_body_frame(model: mujoco.MjModel, b: int) -> np.ndarray:
    """(3, 3) kg m^2, the body's inertia about its centre of mass in the body frame (principal axes may reorder)."""
    rot = np.empty(9)
    mujoco.mju_quat2Mat(rot, model.body_iquat[b])
    return rot.reshape(3, 3) @ np.diag(model.body_inertia[b]) @ rot.reshape(3, 3).T
    assert parse_params("inertial@fore.t3", model).names == ["inertial@fore.t3"]
