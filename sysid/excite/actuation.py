"""How commands reach the joints: actuator kinds, the rest state, commands from excursions.

`sysid excite` plans for models whose actuators each drive one hinge or slide joint and are a
`motor` (the command is a torque or force), a `position` servo (the command is a target
position) or a `velocity` servo (the command is a target velocity): fixed gain, affine bias.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import mujoco
import numpy as np

from sysid.errors import UserError

ActuatorKind = Literal["motor", "position", "velocity"]
SCALAR_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
SETTLE_TIME = 2.0  # s the model holds the rest command before a plan starts


@dataclasses.dataclass(frozen=True)
class Actuation:
    """The model's actuators and the joints they drive, in actuator order (J = nu).

    Attributes:
      actuators: (J,) actuator names.
      joints: (J,) the joint each one drives.
      kinds: (J,) "motor", "position" or "velocity".
      qadr, dadr: (J,) the joints' qpos and dof addresses.
      gear: (J,) transmission ratio (joint torque = gear * actuator force).
      gain, bias: (J,) and (J, 3) actuator force = gain * ctrl + bias0 + bias1 * length + bias2 * velocity.
    """

    actuators: tuple[str, ...]
    joints: tuple[str, ...]
    kinds: tuple[ActuatorKind, ...]
    qadr: np.ndarray
    dadr: np.ndarray
    gear: np.ndarray
    gain: np.ndarray
    bias: np.ndarray

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> Actuation:
        """Read and check the model's actuators; anything excite cannot plan for is a UserError."""
        if model.nu == 0:
            raise UserError("the model has no actuators; sysid excite plans commands for actuators")
        names, joints, kinds = [], [], []
        for a in range(model.nu):
            name = model.actuator(a).name or f"actuator {a}"
            joint = int(model.actuator_trnid[a, 0])
            if model.actuator_trntype[a] != mujoco.mjtTrn.mjTRN_JOINT or model.jnt_type[joint] not in SCALAR_JOINTS:
                raise UserError(f"actuator {name!r}: sysid excite needs actuators that drive one hinge or slide joint")
            if model.actuator_dyntype[a] != mujoco.mjtDyn.mjDYN_NONE or model.actuator_gaintype[a] != mujoco.mjtGain.mjGAIN_FIXED:
                raise UserError(f"actuator {name!r}: sysid excite supports motor, position and velocity actuators (fixed gain, no activation dynamics)")
            gain, bias = model.actuator_gainprm[a, 0], model.actuator_biasprm[a, :3]
            if model.actuator_biastype[a] == mujoco.mjtBias.mjBIAS_NONE or not bias.any():
                kind = "motor"
            elif model.actuator_biastype[a] == mujoco.mjtBias.mjBIAS_AFFINE and np.isclose(bias[1], -gain):
                kind = "position"
            elif model.actuator_biastype[a] == mujoco.mjtBias.mjBIAS_AFFINE and bias[1] == 0 and np.isclose(bias[2], -gain):
                kind = "velocity"
            else:
                raise UserError(f"actuator {name!r}: its bias is neither a motor's, a position servo's nor a velocity servo's")
            if joint in joints:
                raise UserError(f"actuator {name!r}: joint {model.joint(joint).name!r} has two actuators; excite plans one command per joint")
            names.append(name)
            joints.append(joint)
            kinds.append(kind)
        bias_type = model.actuator_biastype != mujoco.mjtBias.mjBIAS_NONE
        return cls(
            actuators=tuple(names),
            joints=tuple(model.joint(j).name for j in joints),
            kinds=tuple(kinds),
            qadr=model.jnt_qposadr[joints].copy(),
            dadr=model.jnt_dofadr[joints].copy(),
            gear=model.actuator_gear[:, 0].copy(),
            gain=model.actuator_gainprm[:, 0].copy(),
            bias=model.actuator_biasprm[:, :3] * bias_type[:, None],
        )

    def force(self, ctrl: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """Actuator force before any force limit: ctrl (..., J), joint qpos (..., J), qvel (..., J) -> (..., J)."""
        return self.gain * ctrl + self.bias[:, 0] + self.bias[:, 1] * self.gear * qpos + self.bias[:, 2] * self.gear * qvel


def rest_command(model: mujoco.MjModel, act: Actuation, q_start: np.ndarray) -> np.ndarray:
    """(J,) the command that holds the joints at `q_start` (J,): the target for a position servo,
    0 for a velocity servo, the gravity-compensating torque for a motor."""
    data = mujoco.MjData(model)
    data.qpos[act.qadr] = q_start
    mujoco.mj_forward(model, data)
    ctrl = np.zeros(len(act.kinds))
    for j, kind in enumerate(act.kinds):
        if kind == "position":
            ctrl[j] = q_start[j]
        elif kind == "motor":
            ctrl[j] = data.qfrc_bias[act.dadr[j]] / (act.gear[j] * act.gain[j])
    return ctrl


def settle(model: mujoco.MjModel, act: Actuation, rest_ctrl: np.ndarray, q_start: np.ndarray, *, seconds: float = SETTLE_TIME) -> tuple[np.ndarray, np.ndarray]:
    """(nq,), (nv,): the state the model reaches holding `rest_ctrl` (J,) for `seconds`, from q_start at rest."""
    data = mujoco.MjData(model)
    data.qpos[act.qadr] = q_start
    data.ctrl[:] = np.clip(rest_ctrl, *_ctrl_bounds(model))
    for _ in range(int(round(seconds / model.opt.timestep))):
        mujoco.mj_step(model, data)
    return data.qpos.copy(), data.qvel.copy()


def commands(model: mujoco.MjModel, act: Actuation, time: np.ndarray, x: np.ndarray, *, joint_space: bool,
             q_start: np.ndarray, rest_ctrl: np.ndarray, feedforward: np.ndarray | None = None) -> np.ndarray:
    """(N, J) commands from an excursion x (N, J) over `time` (N,) s, clipped to the ctrlrange.

    A joint-space excursion is a trajectory q = q_start + x (rad or m): a velocity servo gets
    dq/dt, a motor the inverse-dynamics torque of the whole trajectory, and a position servo the
    target q plus `feedforward` (J,) (fractions in [0, 1]; default none) of the change of that
    torque from rest over its gain: with all of it the model follows q, with none it lags and
    rings. A command-space excursion is added to the rest command.
    """
    if not joint_space:
        ctrl = rest_ctrl + x
    else:
        qd = np.gradient(x, time, axis=0)
        ctrl = np.empty_like(x)
        for j, kind in enumerate(act.kinds):
            ctrl[:, j] = q_start[j] + x[:, j] if kind == "position" else qd[:, j]
        motors = [j for j, kind in enumerate(act.kinds) if kind == "motor"]
        servos = [j for j, kind in enumerate(act.kinds) if kind == "position" and feedforward is not None and feedforward[j] > 0]
        if motors or servos:
            torque = _inverse_dynamics(model, act, q_start + x, qd, np.gradient(qd, time, axis=0))
            ctrl[:, motors] = torque[:, motors] / (act.gear[motors] * act.gain[motors])
            if servos:
                still = np.zeros((1, len(q_start)))
                held = _inverse_dynamics(model, act, q_start[None], still, still)[0]
                ctrl[:, servos] += feedforward[servos] * (torque[:, servos] - held[servos]) / (act.gear[servos] * act.gain[servos])
    return np.clip(ctrl, *_ctrl_bounds(model))


def _inverse_dynamics(model: mujoco.MjModel, act: Actuation, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray) -> np.ndarray:
    """(N, J) joint torques that make the model follow q, qd, qdd (N, J); other joints held at qpos0."""
    data = mujoco.MjData(model)
    out = np.empty_like(q)
    for i in range(len(q)):
        data.qpos[act.qadr], data.qvel[act.dadr], data.qacc[act.dadr] = q[i], qd[i], qdd[i]
        mujoco.mj_inverse(model, data)
        out[i] = data.qfrc_inverse[act.dadr]
    return out


def _ctrl_bounds(model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    limited = model.actuator_ctrllimited.astype(bool)
    lo = np.where(limited, model.actuator_ctrlrange[:, 0], -np.inf)
    hi = np.where(limited, model.actuator_ctrlrange[:, 1], np.inf)
    return lo, hi
