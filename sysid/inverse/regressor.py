"""The inverse-dynamics regressor: joint torques are linear in each body's ten standard inertial
parameters, phi = (m, m cx, m cy, m cz, Ixx, Ixy, Ixz, Iyy, Iyz, Izz) with the inertia about the
body's origin in the body frame, and in the joints' armature.

The columns come from `mujoco.mj_inverse` itself: with a body's inertial written as phi_ref + e_k
the torque changes by exactly column k (the dependence is linear, so the difference is exact up to
rounding). The model used has no constraints, joint damping or friction loss: those are the
friction terms of the fit (`sysid.inverse.friction`), not the model's.

Base parameters: a QR decomposition with column pivoting of the (column-scaled) regressor finds
independent columns B; every other column D is a combination of them, so the data determine
beta = phi_B + K phi_D and nothing else (Gautier 1990).
"""

from __future__ import annotations

import copy
import dataclasses

import mujoco
import numpy as np
import scipy.linalg

from sysid.inertial import pseudo_from_standard, write_standard
from sysid.inverse.signals import Samples

ZERO_COLUMN = 1e-9  # a column this small relative to the largest is zero (rounding of the differences)
RANK_TOL = 1e-7  # |R_ii| / |R_00| of the column-scaled regressor below this: a dependent column


def consistent(phi: np.ndarray, *, rtol: float = 1e-9) -> bool:
    """True when the body `phi` (10,) is physically consistent (positive-definite pseudo-inertia)."""
    eig = np.linalg.eigvalsh(pseudo_from_standard(phi))
    return bool(eig.min() > rtol * max(eig.max(), 1e-300))


def inverse_model(model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy of `model` for regressors: no constraints, contacts, joint damping or friction loss."""
    m = copy.copy(model)
    m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONSTRAINT | mujoco.mjtDisableBit.mjDSBL_CONTACT
    m.dof_damping[:] = 0.0
    m.dof_frictionloss[:] = 0.0
    return m


def inverse_torques(model: mujoco.MjModel, samples: Samples, data: mujoco.MjData | None = None) -> np.ndarray:
    """(N, k) `qfrc_inverse` of `samples.dofs` at every sample, under `model` as it is."""
    data = mujoco.MjData(model) if data is None else data
    qfrc = np.empty((len(samples.q), model.nv))
    qpos, qvel, qacc, inverse = data.qpos, data.qvel, data.qacc, data.qfrc_inverse  # views made once: the loop is the cost
    for i, (q, qd, qdd) in enumerate(zip(samples.q, samples.qd, samples.qdd)):
        qpos[:], qvel[:], qacc[:] = q, qd, qdd
        mujoco.mj_inverse(model, data)
        qfrc[i] = inverse
    return qfrc[:, samples.dofs]


def body_regressor(model: mujoco.MjModel, bodies: list[int], samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """The inertial part of the regressor.

    Args:
      model: the compiled input model; bodies: ids of the bodies whose inertials are fitted.
    Returns:
      Y: (N, k, 10 * len(bodies)) torque of each dof per unit of each standard parameter;
      rest: (N, k) the torque of everything else (other bodies, armature, springs), so that
      qfrc_inverse = Y @ phi + rest for every phi of the fitted bodies.
    """
    m = inverse_model(model)
    data = mujoco.MjData(m)
    ref = np.array([1.0, 0, 0, 0, 1.0, 0, 0, 1.0, 0, 1.0])  # 1 kg, 1 kg m^2: any m != 0 would do (no singular mass matrix)
    for b in bodies:
        write_standard(m, b, ref)
    base = inverse_torques(m, samples, data)
    cols = []
    for b in bodies:
        for k in range(10):
            write_standard(m, b, ref + np.eye(10)[k])
            cols.append(inverse_torques(m, samples, data) - base)
            write_standard(m, b, ref)
    Y = np.stack(cols, axis=2)
    rest = base - Y @ np.tile(ref, len(bodies))  # base holds every fitted body's reference inertial
    return Y, rest


@dataclasses.dataclass(frozen=True)
class BaseParameters:
    """Identifiable combinations of the linear parameters.

    Attributes:
      index: (r,) columns of the base parameters (independent columns); dependent: the others.
      K: (r, p - r) beta = p[index] + K @ p[dependent].
      rank: r.
    """

    index: np.ndarray
    dependent: np.ndarray
    K: np.ndarray

    @property
    def rank(self) -> int:
        return len(self.index)

    def project(self, p: np.ndarray) -> np.ndarray:
        """(..., P) linear parameters -> (..., r) base parameters."""
        return p[..., self.index] + p[..., self.dependent] @ self.K.T

    def matrix(self, n: int) -> np.ndarray:
        """(r, n) the linear map p -> beta."""
        a = np.zeros((self.rank, n))
        a[:, self.index] = np.eye(self.rank)
        a[:, self.dependent] = self.K
        return a

    def describe(self, names: list[str], *, tol: float = 1e-9) -> list[str]:
        """One text per base parameter, e.g. 'Izz@link1 + 0.1 my@link2'."""
        out = []
        for i, col in enumerate(self.index):
            terms = [names[col]] + [f"{k:+.4g} {names[d]}" for k, d in zip(self.K[i], self.dependent) if abs(k) > tol]
            out.append(" ".join(terms))
        return out


def base_parameters(W: np.ndarray) -> BaseParameters:
    """(M, P) regressor -> its base parameters (QR with column pivoting on unit-norm columns)."""
    norms = np.linalg.norm(W, axis=0)
    live = norms > ZERO_COLUMN * norms.max()  # columns of rounding noise only (a parameter the torques never see)
    scale = np.where(live, norms, 1.0)
    R, perm = scipy.linalg.qr(W * (live / scale), mode="r", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > RANK_TOL * diag[0])) if diag.size and diag[0] > 0 else 0
    index, dependent = perm[:rank], perm[rank:]
    K_scaled = scipy.linalg.solve_triangular(R[:rank, :rank], R[:rank, rank:])
    K = K_scaled * scale[dependent][None, :] / scale[index][:, None]
    order = np.argsort(index)
    return BaseParameters(index[order], dependent, K[order])
