"""MJCF arms from Denavit-Hartenberg tables: the form most arm vendors and papers publish.

Each row of the table is one joint and the link it moves, with that link's inertial expressed in
the link's DH frame. Two conventions:

* ``modified`` (Craig): row i holds a_{i-1}, alpha_{i-1}, d_i, theta_i and
  T_{i-1,i} = RotX(alpha_{i-1}) TransX(a_{i-1}) RotZ(theta_i) TransZ(d_i); frame i sits on joint i.
  (The Franka Panda's published table is in this form.)
* ``standard``: row i holds a_i, alpha_i, d_i, theta_i and T_{i-1,i} = RotZ(theta_i) TransZ(d_i) TransX(a_i)
  RotX(alpha_i); joint i turns about z_{i-1} and frame i sits at the link's far end.

Body i of the MJCF is the frame in which joint i turns about z at the origin; for the modified
convention that is DH frame i itself, for the standard one it is frame i-1 turned by the joint, and
the link's inertial is moved there from frame i. `theta` is the joint's offset (its DH angle at
q = 0); for a prismatic joint `d` is. A site `flange` marks the last DH frame. Every joint gets a
`motor` actuator (torque, gear 1) named `<joint>_motor`.

    from sysid.dh import Link, arm_xml
    links = [Link(a=0, alpha=0, d=0.333, mass=4.97, com=(0.0039, 0.0021, -0.0476), inertia=(0.70337, 0.70661, 0.00912, -0.00014, 0.00677, 0.01917)), ...]
    open("arm.xml", "w").write(arm_xml(links, convention="modified"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import mujoco
import numpy as np

from sysid.errors import UserError

Convention = Literal["modified", "standard"]


@dataclasses.dataclass(frozen=True)
class Link:
    """One DH row and the link it moves.

    Attributes:
      a: m, link length; alpha: rad, link twist; d: m, link offset; theta: rad, joint angle offset
        (see the module docstring for which row's a and alpha each convention means).
      mass: kg; com: (3,) m, centre of mass in the link's DH frame; inertia: (6,) kg m^2, about the
        centre of mass in the link's DH frame axes, as Ixx Iyy Izz Ixy Ixz Iyz (MuJoCo's fullinertia).
      prismatic: a sliding joint along z (d is its offset) instead of a hinge.
      name: the link's body name (default link1, link2, ...); its joint is joint<k> unless `joint` is given.
      range: (2,) joint limits (rad or m), or None for an unlimited joint.
      damping, frictionloss, armature: the joint's MuJoCo properties.
      forcerange: N m, the motor's symmetric torque limit, or None.
    """

    a: float
    alpha: float
    d: float
    theta: float = 0.0
    mass: float = 1.0
    com: Sequence[float] = (0.0, 0.0, 0.0)
    inertia: Sequence[float] = (1e-3, 1e-3, 1e-3, 0.0, 0.0, 0.0)
    prismatic: bool = False
    name: str | None = None
    joint: str | None = None
    range: Sequence[float] | None = None
    damping: float = 0.0
    frictionloss: float = 0.0
    armature: float = 0.0
    forcerange: float | None = None

    def __post_init__(self):
        if not self.mass > 0:
            raise UserError(f"DH link {self.name or ''}: mass must be positive, got {self.mass}")
        if len(self.com) != 3 or len(self.inertia) != 6:
            raise UserError(f"DH link {self.name or ''}: com needs 3 numbers and inertia 6 (Ixx Iyy Izz Ixy Ixz Iyz)")


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _quat(rot: np.ndarray) -> np.ndarray:
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rot).ravel())
    return quat


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _full(inertia: Sequence[float]) -> np.ndarray:
    xx, yy, zz, xy, xz, yz = inertia
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def arm_spec(links: Sequence[Link], *, convention: Convention, name: str = "dh_arm", timestep: float = 0.001,
             base_pos: Sequence[float] = (0, 0, 0), base_quat: Sequence[float] = (1, 0, 0, 0),
             gravity: Sequence[float] = (0, 0, -9.81), geoms: bool = True) -> mujoco.MjSpec:
    """An MjSpec of the arm (see the module docstring); `base_pos` / `base_quat` place DH frame 0 in the world."""
    if convention not in ("modified", "standard"):
        raise UserError(f"DH convention must be 'modified' or 'standard', got {convention!r}")
    if not links:
        raise UserError("a DH table needs at least one link")
    spec = mujoco.MjSpec()
    spec.modelname = name
    spec.compiler.degree = False  # DH angles and joint ranges are radians
    spec.option.timestep = timestep
    spec.option.gravity = list(gravity)
    parent = spec.worldbody.add_body(name="base", pos=list(base_pos), quat=list(base_quat))
    prev_end = (np.zeros(3), np.eye(3))  # standard: pose of frame i-1 in the previous body
    for i, link in enumerate(links):
        body_name = link.name or f"link{i + 1}"
        offset = _rot_z(link.theta) if not link.prismatic else np.eye(3)
        z_shift = np.zeros(3) if not link.prismatic else np.array([0, 0, link.d])
        if convention == "modified":
            rot = _rot_x(link.alpha)
            pos = np.array([link.a, 0, 0]) + rot @ np.array([0, 0, 0 if link.prismatic else link.d])
            body_rot = rot @ offset
            com_frame, rot_frame = np.zeros(3), np.eye(3)  # the link frame is the body frame
            if link.prismatic:
                pos = pos + rot @ z_shift
                body_rot = rot @ _rot_z(link.theta)
        else:
            pos, rot = prev_end
            body_rot = rot @ (offset if not link.prismatic else _rot_z(link.theta))
            pos = pos + rot @ z_shift
            # frame i = body frame . TransZ(d) TransX(a) RotX(alpha) (d enters the joint for a prismatic one)
            com_frame = np.array([link.a, 0, 0 if link.prismatic else link.d])
            rot_frame = _rot_x(link.alpha)
            prev_end = (com_frame, rot_frame)
        body = parent.add_body(name=body_name, pos=list(pos), quat=list(_quat(body_rot)))
        com = com_frame + rot_frame @ np.asarray(link.com, float)
        inertia = rot_frame @ _full(link.inertia) @ rot_frame.T
        body.explicitinertial = True
        body.mass = float(link.mass)
        body.ipos = list(com)
        body.fullinertia = [inertia[0, 0], inertia[1, 1], inertia[2, 2], inertia[0, 1], inertia[0, 2], inertia[1, 2]]
        joint_name = link.joint or f"joint{i + 1}"
        kind = mujoco.mjtJoint.mjJNT_SLIDE if link.prismatic else mujoco.mjtJoint.mjJNT_HINGE
        joint = body.add_joint(name=joint_name, type=kind, axis=[0, 0, 1], damping=link.damping,
                               frictionloss=link.frictionloss, armature=link.armature)
        if link.range is not None:
            joint.range, joint.limited = list(link.range), mujoco.mjtLimited.mjLIMITED_TRUE
        if geoms:
            tip = com_frame if convention == "standard" else np.asarray(link.com, float)
            if np.linalg.norm(tip) > 1e-6:
                body.add_geom(type=mujoco.mjtGeom.mjGEOM_CAPSULE, fromto=[0, 0, 0, *tip], size=[0.02, 0, 0],
                              contype=0, conaffinity=0, mass=0, density=0)
        actuator = spec.add_actuator(name=f"{joint_name}_motor", target=joint_name,
                                     trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.gainprm[0] = 1.0
        if link.forcerange is not None:
            actuator.forcerange, actuator.forcelimited = [-link.forcerange, link.forcerange], mujoco.mjtLimited.mjLIMITED_TRUE
        parent = body
    end_pos, end_rot = prev_end if convention == "standard" else (np.zeros(3), np.eye(3))
    parent.add_site(name="flange", pos=list(end_pos), quat=list(_quat(end_rot)))
    return spec


def arm_xml(links: Sequence[Link], *, convention: Convention, **options) -> str:
    """The arm's MJCF text (`arm_spec`'s options); it compiles as it is."""
    spec = arm_spec(links, convention=convention, **options)
    spec.compile()
    return spec.to_xml()
