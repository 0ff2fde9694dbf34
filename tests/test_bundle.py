"""Tests for the policy-handoff bundle: `sysid export`, randomization.yaml, load_bundle, sample_model."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest

from sysid.bundle import load_bundle, sample_model
from sysid.cli import main
from sysid.errors import UserError
from sysid.randomization import ParamDistribution, Randomization, from_result, load_randomization

# A torque-limited 2-link arm: what a fit's calibrated.xml could be.
ARM_XML = """\
<mujoco model="arm">
  <option timestep="0.002"/>
  <worldbody>
    <body name="upper" pos="0 0 1">
      <joint name="shoulder" type="hinge" axis="0 1 0" damping="0.3" frictionloss="0.1" armature="0.02"/>
      <inertial pos="0 0 -0.25" mass="1.2" diaginertia="0.03 0.03 0.002"/>
      <body name="fore" pos="0 0 -0.5">
        <joint name="elbow" type="hinge" axis="0 1 0" damping="0.1"/>
        <inertial pos="0 0 -0.2" mass="0.8" diaginertia="0.01 0.01 0.001"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="shoulder_motor" joint="shoulder" ctrlrange="-5 5"/>
    <motor name="elbow_motor" joint="elbow" ctrlrange="-3 3"/>
  </actuator>
</mujoco>
"""

# result.json's params as `sysid fit` writes them (value, initial, lower, upper, std, ...).
PARAMS = {
    "mass@upper": {"value": 1.2, "initial": 1.6, "lower": 0.16, "upper": 16.0, "std": 0.01},
    "damping@shoulder": {"value": 0.3, "initial": 0.5, "lower": 0.0, "upper": 5.0, "std": 0.004},
    "inertia@fore": {"value": 1.5, "initial": 1.0, "lower": 0.1, "upper": 10.0, "std": 0.03},
    "com@fore.z": {"value": -0.2, "initial": -0.21, "lower": -0.3, "upper": -0.1, "std": 0.002},
    "delay": {"value": 0.012, "initial": 0.0, "lower": 0.0, "upper": 0.1, "std": 0.001},
}


def write_calib(folder, params=PARAMS, xml=ARM_XML):
    """A `sysid fit` output folder: calibrated.xml and result.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calibrated.xml").write_text(xml)
    result = {"params": params, "loss": {"initial": 2.0, "final": 1.0}, "optimizer": "cmaes+lsq", "seed": 0,
              "model": str(folder / "robot.xml"), "logs": [str(folder / "run1.csv")], "version": "0.1.0"}
    (folder / "result.json").write_text(json.dumps(result))
    return folder


@pytest.fixture
def bundle(tmp_path):
    assert main(["export", str(write_calib(tmp_path / "calib")), "--out", str(tmp_path / "bundle")]) == 0
    return tmp_path / "bundle"


# --- randomization.yaml ---------------------------------------------------------------------------

CASES = [
    ParamDistribution("damping@a", "normal", 0.3, 0.05, -10.0, 10.0),  # untruncated
    ParamDistribution("com@b.x", "normal", 0.01, 0.02, 0.0, 0.04),  # truncated on both sides
    ParamDistribution("mass@c", "lognormal", 1.2, 0.1, 0.12, 12.0),
    ParamDistribution("frictionloss@d", "lognormal", 0.05, 0.4, 0.0, 0.08),  # truncated above, lower 0
    ParamDistribution("delay", "normal", 0.001, 0.004, 0.0, 0.1),  # mostly cut off at 0
]


def test_randomization_yaml_round_trips_its_stated_mean_and_spread(tmp_path):
    path = tmp_path / "randomization.yaml"
    path.write_text(Randomization({d.name: d for d in CASES}, widen=2.0).to_yaml())
    loaded = load_randomization(path)
    stated = yaml_params(path)
    rng = np.random.default_rng(0)
    for name, dist in loaded.params.items():
        assert dist == next(d for d in CASES if d.name == name)
        x = dist.sample(rng, 40_000)
        assert x.min() >= dist.lower and x.max() <= dist.upper
        mean, std = stated[name]["mean"], stated[name]["std"]
        assert x.mean() == pytest.approx(mean, abs=4 * std / np.sqrt(len(x))), name
        assert x.std() == pytest.approx(std, rel=0.03), name
    # Far from the bounds the moments are the distribution's own.
    assert stated["damping@a"]["mean"] == pytest.approx(0.3) and stated["damping@a"]["std"] == pytest.approx(0.05)
    assert stated["mass@c"]["mean"] == pytest.approx(1.2 * np.exp(0.1**2 / 2))


def yaml_params(path):
    import yaml

    return yaml.safe_load(path.read_text())["params"]


def test_scales_come_from_the_fit_std_times_widen():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = from_result({"params": PARAMS}, widen=3.0)
    mass, com, inertia, delay = (r.params[n] for n in ("mass@upper", "com@fore.z", "inertia@fore", "delay"))
    assert (mass.distribution, mass.centre, mass.scale) == ("lognormal", 1.2, pytest.approx(3 * 0.01 / 1.2))
    assert (com.distribution, com.scale) == ("normal", pytest.approx(3 * 0.002))  # signed: normal
    # inertia is a factor on calibrated.xml, which already holds the fitted 1.5
    assert (inertia.centre, inertia.lower, inertia.upper) == (1.0, pytest.approx(0.1 / 1.5), pytest.approx(10 / 1.5))
    assert inertia.scale == pytest.approx(3 * 0.03 / 1.5)
    assert delay.distribution == "lognormal" and delay.unit == "s"


def test_a_parameter_without_a_finite_std_is_held_with_a_warning():
    params = {"damping@shoulder": {**PARAMS["damping@shoulder"], "std": None},
              "frictionloss@shoulder": {"value": 0.0, "lower": 0.0, "upper": 1.0, "std": 0.01}}
    with pytest.warns(UserWarning, match="damping@shoulder"):
        r = from_result({"params": params})
    assert r.params["damping@shoulder"].scale == 0.0
    assert r.params["frictionloss@shoulder"].distribution == "normal"  # a value of 0 has no log


def test_malformed_randomization_yaml_names_the_file_and_entry(tmp_path):
    path = tmp_path / "randomization.yaml"
    path.write_text("format: sysid-randomization/1\nparams:\n  mass@upper: {distribution: normal, centre: 1.0, scale: -1, lower: 0, upper: 2}\n")
    with pytest.raises(UserError, match=r"randomization.yaml: params.mass@upper: .*scale >= 0"):
        load_randomization(path)


# --- sysid export ---------------------------------------------------------------------------------


def test_export_writes_model_randomization_and_manifest(bundle, tmp_path):
    assert (bundle / "calibrated.xml").read_text() == ARM_XML
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "sysid-bundle/1" and manifest["widen"] == 2.0 and manifest["delay_s"] == 0.012
    assert manifest["source"]["result_json"] == str((tmp_path / "calib" / "result.json").resolve())
    assert manifest["logs"] == [{"path": str(tmp_path / "calib" / "run1.csv"), "sha256": None}]
    for name, record in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == record["sha256"]
    assert set(manifest["files"]) == {"calibrated.xml", "randomization.yaml"}
    assert list(load_randomization(bundle / "randomization.yaml").params) == list(PARAMS)


def test_sample_model_writes_the_draw_into_the_model_arrays(bundle):
    b = load_bundle(bundle)
    centre = sample_model(b)
    assert centre.delay == 0.012 and centre.model.body_mass[1] == pytest.approx(1.2)
    np.testing.assert_allclose(centre.model.body_inertia[2], b.model.body_inertia[2])
    drawn = sample_model(b, np.random.default_rng(1))
    m = drawn.model
    assert m.body_mass[1] == pytest.approx(drawn.values["mass@upper"]) != pytest.approx(1.2)
    assert m.dof_damping[0] == pytest.approx(drawn.values["damping@shoulder"])
    assert m.body_ipos[2, 2] == pytest.approx(drawn.values["com@fore.z"])
    np.testing.assert_allclose(m.body_inertia[2], b.model.body_inertia[2] * drawn.values["inertia@fore"])
    assert drawn.delay == drawn.values["delay"] != 0.012
    assert b.model.body_mass[1] == pytest.approx(1.2)  # the bundle's own model is untouched


def test_export_copies_listed_actuator_model_files(tmp_path):
    calib = write_calib(tmp_path / "calib")
    result = json.loads((calib / "result.json").read_text())
    (calib / "knee_net.pt").write_bytes(b"torchscript")
    (calib / "result.json").write_text(json.dumps({**result, "actuator_models": ["knee_net.pt"]}))
    assert main(["export", str(calib), "--out", str(tmp_path / "b")]) == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["actuator_models"] == ["actuator_models/knee_net.pt"]
    assert (tmp_path / "b" / "actuator_models" / "knee_net.pt").read_bytes() == b"torchscript"


def _user_error(argv, capsys, fragment):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("sysid: error: "), err
    assert fragment in err, err


def test_export_of_a_folder_without_a_fit_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _user_error(["export", str(tmp_path / "empty"), "--out", str(tmp_path / "b")], capsys, "result.json: not found")


def test_export_of_a_missing_folder_is_a_user_error(tmp_path, capsys):
    _user_error(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "b")], capsys, "no such folder")


def test_export_with_a_negative_widen_is_a_user_error(tmp_path, capsys):
    calib = write_calib(tmp_path / "calib")
    _user_error(["export", str(calib), "--out", str(tmp_path / "b"), "--widen", "-1"], capsys, "--widen must be a positive")


def test_export_into_the_fit_folder_is_a_user_error(tmp_path, capsys):
    calib = write_calib(tmp_path / "calib")
    _user_error(["export", str(calib), "--out", str(calib)], capsys, "another folder")


def test_export_of_a_result_without_params_is_a_user_error(tmp_path, capsys):
    calib = write_calib(tmp_path / "calib")
    (calib / "result.json").write_text('{"loss": {}}')
    _user_error(["export", str(calib), "--out", str(tmp_path / "b")], capsys, "no 'params'")


def test_a_bundle_naming_a_missing_joint_is_a_user_error(tmp_path):
    calib = write_calib(tmp_path / "calib", params={"damping@knee": PARAMS["damping@shoulder"]})
    assert main(["export", str(calib), "--out", str(tmp_path / "b")]) == 0
    with pytest.raises(UserError, match="damping@knee"):
        load_bundle(tmp_path / "b")


def test_centres_hold_without_randomization():
    r = from_result({"params": PARAMS})
    assert r.centres["mass@upper"] == 1.2 and r.centres["inertia@fore"] == 1.0
