"""Tests for sysid.params: the --params grammar, default bounds, overrides, the unit box and writers."""

from __future__ import annotations

import copy
import dataclasses

import mujoco
import numpy as np
import pytest
from conftest import DERIVED_FIELDS, changed_fields, float_fields

from sysid.errors import UserError
from sysid.params import FLOOR_FRACTION, ParamSet, parse_params

# --- grammar --------------------------------------------------------------------------------------


def test_bare_kind_gives_one_parameter_per_applicable_element(arm):
    # Hinge and slide joints, not the ball joint; moving bodies, not the welded base.
    assert parse_params("damping", arm).names == ["damping@shoulder", "damping@elbow", "damping@rail"]
    assert parse_params("mass", arm).names == ["mass@upper", "mass@fore", "mass@slider", "mass@wrist"]
    # kp / kv only on position actuators; gear on every actuator.
    assert parse_params("kp,kv", arm).names == ["kp@elbow_servo", "kv@elbow_servo"]
    assert parse_params("gear", arm).names == ["gear@shoulder_motor", "gear@elbow_servo", "gear@rail_motor"]


def test_glob_target_and_canonical_alias(arm):
    ps = parse_params("friction@*, armature@el*", arm)
    assert ps.names == ["frictionloss@shoulder", "frictionloss@elbow", "frictionloss@rail", "armature@elbow"]
    assert [p.kind for p in ps] == ["frictionloss"] * 3 + ["armature"]
    assert ps[1].initial == pytest.approx(0.2) and ps[3].initial == pytest.approx(0.01)


def test_com_gives_three_axes_and_delay_has_no_target(arm):
    ps = parse_params("com@fore,delay", arm)
    assert ps.names == ["com@fore.x", "com@fore.y", "com@fore.z", "delay"]
    b = arm.body("fore").id
    np.testing.assert_allclose(ps.initial[:3], arm.body_ipos[b])
    assert [p.index for p in ps][:3] == [0, 1, 2]
    assert ps.delay_index == 3 and ps[3].initial == 0.0 and ps[3].target == ""


def test_unknown_kind_lists_known_kinds(arm):
    with pytest.raises(UserError, match=r"unknown parameter kind 'dampng'.*known kinds:.*damping.*friction"):
        parse_params("dampng@elbow", arm)


def test_unknown_target_lists_names(arm):
    with pytest.raises(UserError, match=r"no joint named 'knee'.*joints: shoulder, elbow, rail, ball"):
        parse_params("damping@knee", arm)
    with pytest.raises(UserError, match=r"no body named 'hand'.*bodies: world, base, upper, fore"):
        parse_params("mass@hand", arm)


def test_target_of_wrong_type_says_why(arm):
    with pytest.raises(UserError, match=r"actuator 'shoulder_motor' has no kp to fit.*position actuators"):
        parse_params("kp@shoulder_motor", arm)
    with pytest.raises(UserError, match=r"body 'base' has no mass to fit.*welded"):
        parse_params("mass@base", arm)
    with pytest.raises(UserError, match=r"joint 'ball' has no damping to fit.*hinge and slide"):
        parse_params("damping@ball", arm)
    with pytest.raises(UserError, match="takes no target"):
        parse_params("delay@elbow_servo", arm)


def test_empty_and_duplicate_params(arm):
    with pytest.raises(UserError, match="--params is empty"):
        parse_params(" , ", arm)
    with pytest.raises(UserError, match="damping@elbow is listed twice"):
        parse_params("damping@elbow,damping", arm)


# --- bounds and overrides ---------------------------------------------------------------------------


def test_default_bounds(arm):
    ps = parse_params("damping@elbow,damping@shoulder,frictionloss@shoulder,mass@fore,kp,gear@shoulder_motor", arm)
    by_name = {p.name: p for p in ps}
    # Nonnegative kinds: [0, 10 v], log-searched; a value of 0 gets the kind's fallback upper bound.
    assert (by_name["damping@elbow"].lower, by_name["damping@elbow"].upper) == (0.0, pytest.approx(1.0))
    assert by_name["damping@elbow"].transform == "log"
    assert (by_name["frictionloss@shoulder"].lower, by_name["frictionloss@shoulder"].upper) == (0.0, 10.0)
    # Strictly positive kinds: [v / 10, 10 v].
    mass = by_name["mass@fore"]
    assert (mass.lower, mass.upper) == (pytest.approx(mass.initial / 10), pytest.approx(mass.initial * 10))
    assert (by_name["kp@elbow_servo"].lower, by_name["kp@elbow_servo"].upper) == (pytest.approx(2.0), pytest.approx(200.0))
    assert (by_name["gear@shoulder_motor"].lower, by_name["gear@shoulder_motor"].upper) == (pytest.approx(0.2), pytest.approx(20.0))
    # com: +-10% of the model extent around the value, linear.
    com = parse_params("com@fore", arm)[2]
    half = 0.1 * arm.stat.extent
    assert com.transform == "linear"
    assert (com.lower, com.upper) == (pytest.approx(com.initial - half), pytest.approx(com.initial + half))


def test_config_overrides(arm):
    ps = parse_params(
        "damping,mass@fore",
        arm,
        overrides={"damping@*": {"upper": 3.0}, "damping@rail": {"lower": 1.0}, "mass@fore": {"initial": 2.0}},
    )
    by_name = {p.name: p for p in ps}
    assert [by_name[n].upper for n in ("damping@shoulder", "damping@elbow", "damping@rail")] == [3.0, 3.0, 3.0]
    assert by_name["damping@rail"].lower == 1.0 and by_name["damping@elbow"].lower == 0.0
    # An initial value given alone moves the default range with it.
    assert (by_name["mass@fore"].initial, by_name["mass@fore"].lower, by_name["mass@fore"].upper) == (2.0, 0.2, 20.0)


def test_override_matching_nothing_is_an_error(arm):
    with pytest.raises(UserError, match=r"'params' entry 'mass@\*' matches none of the fitted parameters \['damping@elbow'\]"):
        parse_params("damping@elbow", arm, overrides={"mass@*": {"upper": 2.0}})


def test_bad_overrides(arm):
    with pytest.raises(UserError, match="unknown key 'max'"):
        parse_params("damping@elbow", arm, overrides={"damping@elbow": {"max": 2.0}})
    with pytest.raises(UserError, match="must be a number"):
        parse_params("damping@elbow", arm, overrides={"damping@elbow": {"upper": "big"}})
    with pytest.raises(UserError, match=r"initial value 5 is outside its bounds \[0, 1\]"):
        parse_params("damping@elbow", arm, overrides={"damping@elbow": {"initial": 5.0, "upper": 1.0}})


# --- the unit box -----------------------------------------------------------------------------------


def test_unit_round_trip_including_a_lower_bound_of_zero(arm):
    ps = parse_params("damping@elbow,mass@fore,com@fore", arm)
    values = np.stack([ps.lower, ps.initial, ps.upper, 0.5 * (ps.lower + ps.upper)])  # (4, n)
    u = ps.to_unit(values)
    np.testing.assert_allclose(u[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(u[2], 1.0, atol=1e-12)
    assert np.all((u > -1e-12) & (u < 1 + 1e-12))
    np.testing.assert_allclose(ps.from_unit(u), values, rtol=1e-10, atol=1e-14)
    # damping's lower bound is 0: reachable exactly, and log-like above (the floor is 1e-3 upper).
    assert ps.from_unit(np.zeros(len(ps)))[0] == pytest.approx(0.0, abs=1e-15)
    floor = FLOOR_FRACTION * ps[0].upper
    assert ps.to_unit(np.array([floor, *ps.initial[1:]]))[0] == pytest.approx(np.log(2) / np.log(1 / FLOOR_FRACTION + 1))
    # from_unit clips outside the box; a single vector works like a batch of one.
    np.testing.assert_allclose(ps.from_unit(np.full(len(ps), 2.0)), ps.upper)
    np.testing.assert_allclose(ps.from_unit(ps.to_unit(ps.initial)), ps.initial, rtol=1e-12)


def test_value_per_unit_matches_finite_difference(arm):
    ps = parse_params("damping@elbow,mass@fore,com@fore", arm)
    u = ps.to_unit(ps.initial)
    h = 1e-7
    fd = (ps.from_unit_unclipped(u + h) - ps.from_unit_unclipped(u - h)) / (2 * h)
    np.testing.assert_allclose(ps.value_per_unit(ps.initial), fd, rtol=1e-6)


# --- writing into models ----------------------------------------------------------------------------


def _written(model, text, values):
    ps = parse_params(text, model)
    out = copy.copy(model)
    ps.write(out, np.asarray(values, float), mujoco.MjData(out))
    return ps, out


@pytest.mark.parametrize(
    "text, values, field, index, expected",
    [
        ("damping@elbow", [0.3], "dof_damping", 1, 0.3),
        ("frictionloss@rail", [0.4], "dof_frictionloss", 2, 0.4),
        ("armature@shoulder", [0.05], "dof_armature", 0, 0.05),
        ("stiffness@elbow", [7.0], "jnt_stiffness", 1, 7.0),
        ("gear@rail_motor", [3.0], "actuator_gear", (2, 0), 3.0),
    ],
)
def test_write_changes_one_entry(arm, text, values, field, index, expected):
    ps, out = _written(arm, text, values)
    assert getattr(out, field)[index] == expected
    before, after = getattr(arm, field).copy(), getattr(out, field).copy()
    before[index] = after[index] = 0
    np.testing.assert_array_equal(before, after)  # nothing else in that array
    assert changed_fields(arm, out) - DERIVED_FIELDS == {field}


def test_write_kp_kv_set_gain_and_bias(arm):
    a = arm.actuator("elbow_servo").id
    _, out = _written(arm, "kp@elbow_servo", [35.0])
    assert out.actuator_gainprm[a, 0] == 35.0 and out.actuator_biasprm[a, 1] == -35.0
    assert out.actuator_biasprm[a, 2] == arm.actuator_biasprm[a, 2] == -1.0
    assert changed_fields(arm, out) == {"actuator_gainprm", "actuator_biasprm"}
    _, out = _written(arm, "kv@elbow_servo", [4.0])
    assert out.actuator_biasprm[a, 2] == -4.0
    assert out.actuator_biasprm[a, 1] == -20.0 and out.actuator_gainprm[a, 0] == 20.0
    assert changed_fields(arm, out) == {"actuator_biasprm"}


def test_write_mass_changes_only_the_mass(arm):
    b = arm.body("fore").id
    _, out = _written(arm, "mass@fore", [3.0])
    assert out.body_mass[b] == 3.0
    np.testing.assert_array_equal(np.delete(out.body_mass, b), np.delete(arm.body_mass, b))
    np.testing.assert_array_equal(out.body_inertia, arm.body_inertia)
    np.testing.assert_array_equal(out.body_ipos, arm.body_ipos)
    assert changed_fields(arm, out) - DERIVED_FIELDS == {"body_mass"}
    # Derived constants are refreshed (the mass matrix at qpos0 grows with the mass).
    assert out.body_subtreemass[b] > arm.body_subtreemass[b]
    assert np.all(out.dof_M0[:2] > arm.dof_M0[:2])


def test_write_inertia_scales_the_tensor_and_com_moves_ipos(arm):
    b = arm.body("fore").id
    _, out = _written(arm, "inertia@fore", [1.7])
    np.testing.assert_allclose(out.body_inertia[b], 1.7 * arm.body_inertia[b], rtol=1e-15)
    assert out.body_mass[b] == arm.body_mass[b]
    assert changed_fields(arm, out) - DERIVED_FIELDS == {"body_inertia"}
    ps, out = _written(arm, "com@fore", arm.body_ipos[b] + [0.01, -0.02, 0.03])
    np.testing.assert_allclose(out.body_ipos[b], arm.body_ipos[b] + [0.01, -0.02, 0.03])
    assert changed_fields(arm, out) - DERIVED_FIELDS == {"body_ipos"}


def test_write_is_repeatable_on_the_same_model(arm):
    # Writers are cached per model; the inertia scale applies to the original tensor, not cumulatively.
    ps = parse_params("inertia@fore,damping@elbow", arm)
    out, data = copy.copy(arm), mujoco.MjData(arm)
    b = arm.body("fore").id
    for scale in (2.0, 3.0, 0.5):
        ps.write(out, np.array([scale, 0.4]), data)
    np.testing.assert_allclose(out.body_inertia[b], 0.5 * arm.body_inertia[b], rtol=1e-15)
    assert out.dof_damping[1] == 0.4


def test_write_spec_compiles_to_what_write_gives(arm, arm_path):
    text = "damping,frictionloss@elbow,armature@elbow,stiffness@elbow,mass@fore,inertia@fore,com@upper,kp,kv,gear@shoulder_motor,delay"
    ps = parse_params(text, arm)
    rng = np.random.default_rng(0)
    values = ps.from_unit(rng.uniform(0.2, 0.8, len(ps)))
    expected = copy.copy(arm)
    ps.write(expected, values, mujoco.MjData(expected))
    spec = mujoco.MjSpec.from_file(str(arm_path))
    ps.write_spec(spec, arm, values)
    compiled = spec.compile()
    assert changed_fields(compiled, expected, rtol=1e-9, atol=1e-12) == set()
    # ...and the fitted arrays really moved away from the input's.
    assert {"dof_damping", "body_mass", "body_inertia", "body_ipos", "actuator_gainprm", "actuator_gear"} <= changed_fields(arm, compiled)
    assert float_fields(compiled).keys() == float_fields(arm).keys()


def test_paramset_rejects_bad_records(arm):
    p = parse_params("damping@elbow", arm)[0]
    with pytest.raises(UserError, match="lower < upper"):
        dataclasses.replace(p, lower=2.0, upper=1.0, initial=1.5)
    with pytest.raises(UserError, match="needs lower >= 0"):
        dataclasses.replace(p, lower=-1.0)
    assert len(ParamSet([p])) == 1


def test_write_reaches_a_new_model_that_reuses_a_freed_models_id(arm):
    # Writers are cached per model; Python reuses the id of a freed model for the next copy.
    ps = parse_params("damping@elbow,mass@fore", arm)
    data = mujoco.MjData(arm)
    for value in (0.3, 0.4, 0.5, 0.6, 0.7):
        out = copy.copy(arm)
        ps.write(out, np.array([value, 2 * value]), data)
        assert out.dof_damping[1] == value and out.body_mass[arm.body("fore").id] == 2 * value
        del out
