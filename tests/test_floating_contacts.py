"""Free and ball joints in logs (sysid.floating, sysid.track) and contact parameters (sysid.contact)."""

from __future__ import annotations

import pathlib
import warnings

import mujoco
import numpy as np
import pandas as pd
import pytest

from sysid.data import load_log
from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.loss import DIVERGED_RESIDUAL, ShootingLoss
from sysid.mjcf import patch_mjcf
from sysid.params import parse_params
from sysid.sim import Simulator
from sysid.track import bind_log
from conftest import load_generator

REPO = pathlib.Path(__file__).resolve().parents[1]
QUADRUPED = REPO / "datasets" / "quadruped"

# A pendulum on a ball joint, swinging freely in 3D: the bob's mass sets its period (the inertia stays).
BALL_XML = """<mujoco><option timestep="0.002"/><worldbody>
  <body name="bob" pos="0 0 1"><joint name="ball" type="ball" damping="0.02"/>
    <inertial pos="0 0 -0.3" mass="1.5" diaginertia="0.02 0.02 0.02"/></body>
  </worldbody></mujoco>"""


def _generate():
    return load_generator('quadruped')


@pytest.fixture(scope="module")
def quadruped():
    """(nominal model, generate module, a 0.8 s log as a DataFrame)."""
    generate = _generate()
    return mujoco.MjModel.from_xml_path(str(QUADRUPED / "quadruped.xml")), generate, generate.make_log(0.8, seed=3)


def _load(frame: pd.DataFrame, path: pathlib.Path):
    frame.to_csv(path, index=False, float_format="%.10g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the IMU columns are not read here
        return load_log(path)


def _ball_log(tmp_path: pathlib.Path, mass: float, seconds: float = 1.0) -> pathlib.Path:
    model = mujoco.MjModel.from_xml_string(BALL_XML)
    model.body_mass[1] = mass
    data = mujoco.MjData(model)
    mujoco.mju_axisAngle2Quat(data.qpos, np.array([1.0, 0.5, 0.0]) / np.linalg.norm([1.0, 0.5, 0.0]), 0.8)
    data.qvel[:] = [0.5, -1.0, 2.0]
    rng = np.random.default_rng(0)
    rows = []
    for i in range(int(seconds / model.opt.timestep) + 1):
        q = data.qpos.copy()
        mujoco.mju_quatIntegrate(q, rng.normal(0, 1e-3, 3), 1.0)
        rows.append([i * model.opt.timestep, *q, *(data.qvel + rng.normal(0, 1e-2, 3))])
        mujoco.mj_step(model, data)
    columns = ["time", *(f"ball.pos[{k}]" for k in range(4)), *(f"ball.vel[{k}]" for k in range(3))]
    path = tmp_path / "ball.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False, float_format="%.10g")
    return path


def test_ball_joint_log_round_trip(tmp_path):
    path = _ball_log(tmp_path, mass=1.0)
    log = load_log(path)
    assert sorted(log.pos) == [f"ball[{k}]" for k in range(4)] and sorted(log.vel) == [f"ball[{k}]" for k in range(3)]
    model = mujoco.MjModel.from_xml_string(BALL_XML)
    track = bind_log(log, model)
    assert track.signals == ("ball.rot[0]", "ball.rot[1]", "ball.rot[2]", "ball.vel[0]", "ball.vel[1]", "ball.vel[2]")
    assert 5e-4 < track.sigma[0] < 2e-3 and 5e-3 < track.sigma[3] < 2e-2  # orientation noise 1 mrad, velocity 0.01
    params = parse_params("mass@bob", model)
    result = fit(model, [log], params, FitConfig(optimizer="lsq", horizons=(0.5,), nthread=1), progress=False)
    assert result.values[0] == pytest.approx(1.0, rel=0.01)
    assert result.rmse_final["ball.rot[0]"] < 3e-3 < result.rmse_initial["ball.rot[0]"]


def test_free_joint_velocity_is_derived_from_quaternion_differences(tmp_path):
    # A box tumbling and drifting in zero gravity: only its pose is logged.
    xml = """<mujoco><option gravity="0 0 0" timestep="0.002"/><worldbody><body name="box"><freejoint name="root"/>
      <geom type="box" size="0.3 0.2 0.1" mass="1"/></body></worldbody></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    data.qvel[:] = [0.3, -0.2, 0.1, 2.0, 0.5, -1.0]
    rows, qvel = [], []
    for i in range(400):
        rows.append([i * model.opt.timestep, *data.qpos])
        qvel.append(data.qvel.copy())
        mujoco.mj_step(model, data)
    frame = pd.DataFrame(rows, columns=["time", *(f"root.pos[{k}]" for k in range(7))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # noise-free signals get a noise floor
        track = bind_log(_load(frame, tmp_path / "box.csv"), model)
    inner = slice(5, -5)
    # Within 1e-3 of 2 rad/s: a central difference of Euler steps is the velocity half a step later.
    np.testing.assert_allclose(track.qvel[inner], np.array(qvel)[inner], atol=2.5e-3)  # body-frame rad/s, world m/s
    assert np.abs(track.qvel[inner, 3:] - np.array(qvel)[inner, 3:]).mean() < 1e-3
    assert track.signals == ("root.pos[0]", "root.pos[1]", "root.pos[2]", "root.rot[0]", "root.rot[1]", "root.rot[2]")


def test_quaternion_sign_flips_and_scaling_fit_the_same(quadruped, tmp_path):
    model, _, frame = quadruped
    messy = frame.copy()
    quat = [f"root.pos[{k}]" for k in range(3, 7)]
    rng = np.random.default_rng(1)
    sign = np.where((np.arange(len(frame)) // 17) % 2 == 1, -1.0, 1.0)  # blocks of flipped rows
    sign[5] = -1.0  # and a lone flipped row
    messy[quat] = frame[quat].to_numpy() * (sign * rng.uniform(0.7, 1.3, len(frame)))[:, None]
    clean, flipped = _load(frame, tmp_path / "clean.csv"), _load(messy, tmp_path / "messy.csv")
    tracks = [bind_log(log, model) for log in (clean, flipped)]
    np.testing.assert_allclose(tracks[1].qpos, tracks[0].qpos, atol=1e-9)
    np.testing.assert_allclose(tracks[1].values, tracks[0].values, atol=1e-9)
    params = parse_params("mass@torso", model)
    config = FitConfig(optimizer="lsq", horizons=(0.2,), nthread=1, refine_states=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the other parameters are the nominal ones: a poor fit, said twice
        fits = [fit(model, [log], params, config, progress=False) for log in (clean, flipped)]
    np.testing.assert_allclose(fits[1].values, fits[0].values, rtol=1e-6)
    assert fits[1].loss_final == pytest.approx(fits[0].loss_final, rel=1e-6)


def test_contact_parameters_parse_write_and_export(quadruped, tmp_path):
    model, _, _ = quadruped
    params = parse_params("friction@*_foot,friction@fl_foot.1,solref@hr_foot,impratio,friction@fl_knee", model)
    assert params.names == ["friction@fl_foot", "friction@fr_foot", "friction@hl_foot", "friction@hr_foot",
                            "friction@fl_foot.1", "solref@hr_foot.0", "solref@hr_foot.1", "impratio", "frictionloss@fl_knee"]
    assert params[0].initial == pytest.approx(0.8) and params[5].initial == pytest.approx(0.02)
    values = np.array([0.5, 0.6, 0.7, 0.9, 0.01, 0.03, 0.8, 2.0, 0.3])
    fitted = mujoco.MjModel.from_xml_path(str(QUADRUPED / "quadruped.xml"))
    params.write(fitted, values, mujoco.MjData(fitted))
    g = fitted.geom("hr_foot").id
    assert fitted.geom_friction[g, 0] == 0.9 and list(fitted.geom_solref[g]) == [0.03, 0.8]
    assert fitted.geom_friction[fitted.geom("fl_foot").id, 1] == 0.01 and fitted.opt.impratio == 2.0
    exported = mujoco.MjModel.from_xml_string(patch_mjcf(QUADRUPED / "quadruped.xml", model, params, values))
    for field in ("geom_friction", "geom_solref", "dof_frictionloss"):
        np.testing.assert_array_equal(getattr(exported, field), getattr(fitted, field))
    assert exported.opt.impratio == 2.0
    spec = mujoco.MjSpec.from_file(str(QUADRUPED / "quadruped.xml"))  # the MjSpec fallback of calibrated.xml
    params.write_spec(spec, model, values)
    compiled = spec.compile()
    np.testing.assert_allclose(compiled.geom_friction, fitted.geom_friction)
    np.testing.assert_allclose(compiled.geom_solref, fitted.geom_solref)
    assert compiled.opt.impratio == 2.0


@pytest.mark.parametrize("text, message", [
    ("friction@*fot*", r"^--params: 'friction@\*fot\*': no joint or geom named '\*fot\*' in the model; joints: root, "),
    ("solref@*fot*", r"^--params: 'solref@\*fot\*': no geom named '\*fot\*' in the model; geoms: floor, torso, fl_foot"),
    ("friction@fl_knee", r"'fl_knee' names both a joint and a geom; write frictionloss@fl_knee .* or friction@fl_knee.0"),
])
def test_unknown_or_ambiguous_geom_target_is_one_line(quadruped, text, message):
    model, _, _ = quadruped
    if "knee" in text:  # a geom named like a joint
        spec = mujoco.MjSpec.from_file(str(QUADRUPED / "quadruped.xml"))
        spec.geom("fl_foot").name = "fl_knee"
        model = spec.compile()
    with pytest.raises(UserError, match=message) as error:
        parse_params(text, model)
    assert "\n" not in str(error.value)
    if "knee" in text:
        assert parse_params("friction@fl_knee.0,frictionloss@fl_knee", model).names == ["friction@fl_knee", "frictionloss@fl_knee"]


def test_bad_free_joint_columns_are_one_line(quadruped, tmp_path):
    model, _, frame = quadruped
    with pytest.raises(UserError, match=r"column 'root.pos\[6\]' is missing: 'root' is a free joint, logged as "
                                        r"root.pos\[0\]..root.pos\[6\]"):
        bind_log(_load(frame.drop(columns=["root.pos[6]"]), tmp_path / "a.csv"), model)
    zero = frame.copy()
    zero.loc[4, [f"root.pos[{k}]" for k in range(3, 7)]] = 0.0
    with pytest.raises(UserError, match=r"columns 'root.pos\[3\]'..'root.pos\[6\]', row 5: the quaternion .* norm 0"):
        bind_log(_load(zero, tmp_path / "b.csv"), model)
    plain = frame.rename(columns={"fl_abd.pos": "root.pos"})
    with pytest.raises(UserError, match=r"column 'root.pos': joint 'root' is a free joint; log it as root.pos\[0\]"):
        bind_log(_load(plain, tmp_path / "c.csv"), model)


def test_extreme_contact_candidates_score_bad_without_crashing(quadruped, tmp_path):
    model, generate, frame = quadruped
    track = bind_log(_load(frame, tmp_path / "q.csv"), model)
    params = parse_params("mass@torso,friction@*_foot,solref@*_foot.0,impratio", model)
    sim = Simulator(model, params, nthread=1)
    try:
        loss = ShootingLoss(sim, [track], 0.4)
        truth = [generate.TRUTH["mass@torso"], *[generate.TRUTH[f"friction@{leg}_foot"] for leg in generate.LEGS], 0.02, 1.0]
        candidates = np.array([truth,
                               [60.0, 0.0, 0.0, 0.0, 0.0, 0.2, 1.0],  # heavy, frictionless, soft: sinks and slides
                               [0.72, 8.0, 8.0, 8.0, 8.0, 0.002, 10.0]])  # stiff and sticky
        r = loss.residuals(candidates)
    finally:
        sim.close()
    assert np.isfinite(r).all() and np.abs(r).max() <= DIVERGED_RESIDUAL
    ms = (r**2).mean(axis=1)
    assert ms[1] > 10 * ms[0] and ms[2] > ms[0]


def test_quadruped_fit_on_a_short_log_recovers_mass_and_foot_friction(quadruped, tmp_path):
    _, generate, _ = quadruped
    log = _load(generate.make_log(1.5, seed=1), tmp_path / "q.csv")
    model = generate.true_model()  # the joints' true values; mass and foot friction start 20-40% off
    params = parse_params("mass@torso,friction@*_foot", model,
                          overrides={"mass@torso": {"initial": 6.0}, "friction@*": {"initial": 0.85}})
    config = FitConfig(optimizer="lsq", horizons=(0.25,), nthread=1, optimizer_options={"lsq": {"max_iterations": 12}})
    result = fit(model, [log], params, config, progress=False)
    truth = np.array([generate.TRUTH[name] for name in params.names])
    np.testing.assert_allclose(result.values, truth, rtol=0.1)
    assert result.loss_final < 0.5 * result.loss_initial  # the rest: window starts filtered from noisy logs
