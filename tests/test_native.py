"""MuJoCo-native actuator features in calibrated.xml: the fitted delay replays in plain MuJoCo."""

from __future__ import annotations

import types

import mujoco
import numpy as np
import pytest
from conftest import make_log, truth_model  # noqa: F401  (fixture)

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
    path.write_text(PENDULUM_SPEC)
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
    path.write_text(PENDULUM_SPEC)
    model = mujoco.MjModel.from_xml_path(str(path))
    ps = parse_params("delay", model)
    with pytest.warns(UserWarning, match="below one timestep"):
        xml = calibrated_xml(path, model, types.SimpleNamespace(params=ps, values=np.array([0.001])), provenance="t")
    assert 'delay="0.001"' in xml


PENDULUM_SPEC = """\
<mujoco model="pendulum">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="link" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.5" frictionloss="0.05" armature="0.05"/>
      <inertial pos="0 0 -0.3" mass="1.0" diaginertia="0.01 0.01 0.001"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.6" size="0.03" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="motor" joint="hinge"/>
  </actuator>
</mujoco>
"""
