"""sysid.dh: arms written from DH tables reproduce gravity torques derived by hand."""

import mujoco
import numpy as np
import pytest

from sysid.dh import Link, arm_xml
from sysid.errors import UserError

G = 9.81
D1, A2, A3 = 0.4, 0.5, 0.35  # m
M2, M3, C2, C3 = 3.0, 1.5, 0.2, 0.15  # kg, and m from each joint to its link's centre of mass


def hand_gravity(q: np.ndarray) -> np.ndarray:
    """The anthropomorphic (RRR, first axis vertical) arm's gravity torques, derived by hand:
    joint 1 turns about the vertical, joints 2 and 3 lift links 2 and 3 in a vertical plane."""
    q2, q23 = q[1], q[1] + q[2]
    return np.array([0.0, G * ((M2 * C2 + M3 * A2) * np.cos(q2) + M3 * C3 * np.cos(q23)), G * M3 * C3 * np.cos(q23)])


def gravity(xml: str, q: np.ndarray) -> np.ndarray:
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    data.qpos[:] = q
    mujoco.mj_inverse(model, data)
    return data.qfrc_inverse.copy()


INERTIA = (0.02, 0.025, 0.03, 0.001, -0.002, 0.0015)  # about each centre of mass: does not enter gravity


def tables():
    standard = [Link(a=0, alpha=np.pi / 2, d=D1, mass=2.0, com=(0, -0.1, 0), inertia=INERTIA),  # com in frame 1, below joint 2
                Link(a=A2, alpha=0, d=0, mass=M2, com=(C2 - A2, 0, 0), inertia=INERTIA),  # frame 2 at the link's far end
                Link(a=A3, alpha=0, d=0, mass=M3, com=(C3 - A3, 0, 0), inertia=INERTIA)]
    modified = [Link(a=0, alpha=0, d=D1, mass=2.0, com=(0, 0, -0.1), inertia=INERTIA),  # frame i on joint i
                Link(a=0, alpha=np.pi / 2, d=0, mass=M2, com=(C2, 0, 0), inertia=INERTIA),
                Link(a=A2, alpha=0, d=0, mass=M3, com=(C3, 0, 0), inertia=INERTIA)]
    return {"standard": standard, "modified": modified}


@pytest.mark.parametrize("convention", ["standard", "modified"])
def test_dh_gravity_matches_hand_derivation(convention):
    xml = arm_xml(tables()[convention], convention=convention)
    rng = np.random.default_rng(0)
    for q in [np.zeros(3), np.array([0.3, 0.7, -1.1]), *rng.uniform(-2.5, 2.5, (4, 3))]:
        want, got = hand_gravity(q), gravity(xml, q)
        scale = np.abs(want).max()
        print(convention, np.round(q, 3), "hand", np.round(want, 4), "mujoco", np.round(got, 4))
        assert np.allclose(got, want, atol=0.01 * scale), (q, got, want)


def test_dh_flange_and_motors():
    """The flange sits at the DH end frame: 0.4 up, then 0.5 + 0.35 along x at q = 0."""
    model = mujoco.MjModel.from_xml_string(arm_xml(tables()["standard"], convention="standard"))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert np.allclose(data.site("flange").xpos, [A2 + A3, 0, D1])
    assert model.nu == 3 and model.actuator_gainprm[0, 0] == 1.0


def test_dh_bad_input():
    with pytest.raises(UserError, match="convention"):
        arm_xml(tables()["standard"], convention="craig")
    with pytest.raises(UserError, match="mass"):
        Link(a=0, alpha=0, d=0, mass=0.0)
