"""Tests for sysid.export: calibrated.xml differs from the input only in the fitted values; result.json."""

from __future__ import annotations

import json
import types

import mujoco
import numpy as np
import pytest
from conftest import DERIVED_FIELDS, changed_fields, float_fields

import sysid
from sysid.export import calibrated_xml, fitted_model, write_outputs
from sysid.fit import FitConfig, fit
from sysid.params import parse_params

# MuJoCo writes MJCF numbers with 6 significant digits: a saved and reloaded model matches to ~1e-6.
XML_RTOL, XML_ATOL = 1e-5, 1e-6

# The arrays each kind writes (DERIVED_FIELDS are refreshed by mj_setConst).
PRIMARY = {
    "damping": {"dof_damping"}, "frictionloss": {"dof_frictionloss"}, "armature": {"dof_armature"},
    "stiffness": {"jnt_stiffness"}, "mass": {"body_mass"}, "inertia": {"body_inertia"}, "com": {"body_ipos"},
    "kp": {"actuator_gainprm", "actuator_biasprm"}, "kv": {"actuator_biasprm"}, "gear": {"actuator_gear"},
    "delay": {"actuator_delay"},  # MuJoCo's native actuator delay
}


def _calibrated(model_path, model, text, scale, tmp_path):
    """(params, values, model compiled from the written calibrated.xml, input with the values written)."""
    ps = parse_params(text, model)
    values = ps.from_unit(np.clip(ps.to_unit(ps.initial) + scale, 0.05, 0.95))
    xml = calibrated_xml(model_path, model, types.SimpleNamespace(params=ps, values=values), provenance="test provenance")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / "calibrated.xml").write_text(xml)
    compiled = mujoco.MjModel.from_xml_path(str(out / "calibrated.xml"))
    return ps, values, compiled, fitted_model(model_path, model, ps, values), xml


@pytest.mark.parametrize(
    "text",
    [
        "damping@elbow",
        "frictionloss,armature@elbow,stiffness@elbow",
        "mass@fore",  # inertia from two geoms
        "inertia@upper",  # inertia from a capsule with a density
        "com@fore",
        "mass,inertia,com@upper",
        "kp,kv",
        "gear@shoulder_motor,delay",
    ],
)
def test_calibrated_model_differs_from_the_input_only_in_the_fitted_values(arm_path, arm, tmp_path, text):
    ps, values, compiled, expected, xml = _calibrated(arm_path, arm, text, 0.2, tmp_path)
    assert "<!-- test provenance -->" in xml
    # Every float array matches the input model with the values written in by ParamSet.write...
    assert changed_fields(compiled, expected, rtol=XML_RTOL, atol=XML_ATOL) == set()
    # ...and, against the raw input, only the fitted arrays (and what mj_setConst derives from them) moved.
    primary = set().union(*(PRIMARY[p.kind] for p in ps))
    moved = changed_fields(compiled, arm, rtol=XML_RTOL, atol=XML_ATOL)
    assert primary <= moved <= primary | DERIVED_FIELDS
    # Integer structure is untouched (same elements, same tree).
    for name in ("nq", "nv", "nu", "nbody", "ngeom", "njnt"):
        assert getattr(compiled, name) == getattr(arm, name)


def test_body_parameters_on_a_body_whose_inertia_comes_from_geoms(arm_path, arm, tmp_path):
    b = arm.body("fore").id
    ps, values, compiled, expected, _ = _calibrated(arm_path, arm, "mass@fore,inertia@fore", 0.25, tmp_path)
    mass, scale = values
    assert mass != pytest.approx(arm.body_mass[b], rel=0.01)
    np.testing.assert_allclose(compiled.body_mass[b], mass, rtol=XML_RTOL)
    # The mass changes alone: the inertia is the input's tensor (computed from the geoms) scaled.
    np.testing.assert_allclose(compiled.body_inertia[b], scale * arm.body_inertia[b], rtol=XML_RTOL)
    np.testing.assert_allclose(compiled.body_ipos[b], arm.body_ipos[b], rtol=XML_RTOL, atol=XML_ATOL)
    np.testing.assert_allclose(compiled.body_iquat[b], arm.body_iquat[b], rtol=XML_RTOL, atol=XML_ATOL)
    # The geoms are still there, unchanged.
    np.testing.assert_allclose(compiled.geom_size, arm.geom_size, rtol=XML_RTOL)
    np.testing.assert_array_equal(compiled.geom_bodyid, arm.geom_bodyid)


def test_calibrated_model_finds_its_meshes_from_another_folder(tmp_path):
    (tmp_path / "robot" / "meshes").mkdir(parents=True)
    (tmp_path / "robot" / "meshes" / "tet.obj").write_text(
        "v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\nv 0 0 0.1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"
    )
    path = tmp_path / "robot" / "robot.xml"
    path.write_text(
        '<mujoco><compiler meshdir="meshes"/><asset><mesh name="tet" file="tet.obj"/></asset>'
        '<worldbody><body name="b"><joint name="j" axis="0 1 0" damping="0.3"/>'
        '<geom type="mesh" mesh="tet"/></body></worldbody></mujoco>'
    )
    model = mujoco.MjModel.from_xml_path(str(path))
    ps, values, compiled, expected, _ = _calibrated(path, model, "damping,mass", 0.2, tmp_path)
    assert changed_fields(compiled, expected, rtol=XML_RTOL, atol=XML_ATOL) == set()
    assert float_fields(compiled)["mesh_vert"].shape == float_fields(model)["mesh_vert"].shape


# --- result.json ---------------------------------------------------------------------------------


def test_write_outputs_writes_every_design_key(pendulum_path, pendulum, noisy_log, tmp_path):
    config = FitConfig(horizons=(0.1, 0.3), optimizer="lsq", nthread=1, seed=3)
    ps = parse_params("damping,armature", pendulum)
    result = fit(pendulum, [noisy_log], ps, config, progress=False)
    out = tmp_path / "calib"
    summary = write_outputs(out, model_path=str(pendulum_path), model=pendulum, log_paths=["run.csv"],
                            result=result, config=config, command="sysid fit ...")
    for name in ("calibrated.xml", "result.json", "fit.png", "convergence.png"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "result.json").read_text())
    assert data == json.loads(json.dumps(sysid.io.to_jsonable(summary)))
    for key in ("params", "loss", "rmse", "optimizer", "evaluations", "sim_steps", "wall_time_s", "model", "logs", "seed", "version"):
        assert key in data, key
    assert list(data["params"]) == ["damping@hinge", "armature@hinge"]
    for i, (name, entry) in enumerate(data["params"].items()):
        assert {"value", "initial", "lower", "upper", "std"} <= set(entry)
        assert entry["value"] == pytest.approx(result.values[i])
        assert entry["initial"] == ps[i].initial and entry["lower"] == ps[i].lower and entry["upper"] == ps[i].upper
        assert 0 < entry["std"] < entry["value"]
    assert data["loss"]["initial"] > data["loss"]["final"] > 0
    assert set(data["rmse"]) == {"hinge.pos", "hinge.vel"}
    assert data["optimizer"] == "lsq" and data["seed"] == 3 and data["version"] == sysid.__version__
    assert data["model"] == str(pendulum_path) and data["logs"] == ["run.csv"]
    assert isinstance(data["evaluations"], int) and data["evaluations"] == result.evaluations
    assert isinstance(data["sim_steps"], int) and data["sim_steps"] >= data["evaluations"] * 50
    assert 0 < data["wall_time_s"] < 60
    # calibrated.xml holds the fitted values.
    compiled = mujoco.MjModel.from_xml_path(str(out / "calibrated.xml"))
    np.testing.assert_allclose([compiled.dof_damping[0], compiled.dof_armature[0]], result.values, rtol=XML_RTOL)
