"""Free and ball joints in logs: their coordinates, quaternion cleaning, filtering and orientation errors.

A free joint `J` is logged as `J.pos[0]`..`J.pos[6]` (x y z, then qw qx qy qz) and optionally
`J.vel[0]`..`J.vel[5]` (linear velocity in the world frame, angular velocity in the body frame, as
MuJoCo's qvel); a ball joint as `J.pos[0]`..`J.pos[3]` (a quaternion) and `J.vel[0]`..`J.vel[2]`.
The loaders keep each coordinate as the signal `J[k]` of `Log.pos` / `Log.vel`
(`sysid.data.mapfile.split_signal_name`). Orientations are compared as rotation vectors (3 numbers,
`sub_quat`, as `mujoco.mju_subQuat`), never as quaternion components; logged quaternions are
normalised and their sign made continuous first (q and -q are the same orientation).
All quaternions are (..., 4) arrays in MuJoCo's order (w, x, y, z).
"""

from __future__ import annotations

import dataclasses
import re

import mujoco
import numpy as np

from sysid.errors import UserError


@dataclasses.dataclass(frozen=True)
class Layout:
    """The logged coordinates of one multi-coordinate joint type.

    Attributes:
      kind: "free" or "ball".
      nq, nv: its qpos and qvel sizes.
      quat: index of qw in its qpos (3 for a free joint, 0 for a ball joint).
      help: how to log it, for messages.
    """

    kind: str
    nq: int
    nv: int
    quat: int
    help: str


LAYOUTS = {
    int(mujoco.mjtJoint.mjJNT_FREE): Layout("free", 7, 6, 3, "J.pos[0]..J.pos[6] (x y z qw qx qy qz), J.vel[0]..J.vel[5]"),
    int(mujoco.mjtJoint.mjJNT_BALL): Layout("ball", 4, 3, 0, "J.pos[0]..J.pos[3] (qw qx qy qz), J.vel[0]..J.vel[2]"),
}
_COMPONENT = re.compile(r"(.+)\[(\d+)\]")
SMALLEST_NORM = 0.5  # a logged quaternion shorter than this is a logging error, not an orientation


def split_component(name: str) -> tuple[str, int] | None:
    """`"root[3]"` (a `Log.pos` key) -> `("root", 3)`; a plain joint name -> None."""
    m = _COMPONENT.fullmatch(name)
    return (m[1], int(m[2])) if m else None


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 4) x (..., 4) -> (..., 4) Hamilton product a b."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternions -> (..., 3) rotation vectors (axis x angle, angle in [0, pi], rad)."""
    q = np.where(q[..., :1] < 0, -q, q)  # the shorter way round
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, q[..., :1])
    # angle / s -> 2 as s -> 0 (small rotations): the limit of 2 atan2(s, w) / s for w ~ 1.
    scale = np.where(s > 1e-12, angle / np.maximum(s, 1e-300), 2.0 / np.maximum(q[..., :1], 1e-300))
    return v * scale


def sub_quat(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """(..., 4), (..., 4) -> (..., 3) rotation vector taking qb to qa in qb's frame, as `mujoco.mju_subQuat`
    (the body-frame angular velocity that integrates qb into qa in unit time)."""
    conj_b = qb * np.array([1.0, -1.0, -1.0, -1.0])
    return quat_to_rotvec(quat_mul(conj_b, qa))


def clean_quaternions(q: np.ndarray, where: str) -> np.ndarray:
    """(N, 4) logged quaternions -> (N, 4) unit quaternions with a continuous sign.

    Raises UserError naming `where` (file and columns) and the row when one is (nearly) zero.
    """
    norm = np.linalg.norm(q, axis=1)
    bad = np.flatnonzero(~(norm >= SMALLEST_NORM))
    if bad.size:
        raise UserError(f"{where}, row {bad[0] + 1}: the quaternion {np.round(q[bad[0]], 6).tolist()} has norm "
                        f"{norm[bad[0]]:.3g}, not about 1: check the columns' order (qw qx qy qz) and units")
    q = q / norm[:, None]
    flips = np.concatenate([[False], np.einsum("ij,ij->i", q[1:], q[:-1]) < 0])
    sign = np.where(np.cumsum(flips) % 2 == 1, -1.0, 1.0)
    return q * sign[:, None]


def angular_velocity(time: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(N,) s, (N, 4) continuous unit quaternions -> (N, 3) body-frame angular velocity in rad/s, from
    quaternion differences (central inside, one-sided at the ends)."""
    n = len(time)
    ahead, behind = np.minimum(np.arange(n) + 1, n - 1), np.maximum(np.arange(n) - 1, 0)
    dt = time[ahead] - time[behind]
    # The difference between the rows either side, seen from the row itself: q_i^-1 q_ahead - q_i^-1 q_behind.
    return (sub_quat(q[ahead], q) - sub_quat(q[behind], q)) / dt[:, None]


def rotation_path(q: np.ndarray) -> np.ndarray:
    """(N, 4) continuous unit quaternions -> (N, 3) cumulative sum of the body-frame increments from row
    to row, rad: a continuous path of the orientation for noise estimates (no wrap at pi)."""
    steps = sub_quat(q[1:], q[:-1])
    return np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])
