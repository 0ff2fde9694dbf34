"""A physically consistent inertial parametrisation: log-Cholesky of the pseudo-inertia.

A body's mass m, centre of mass c and rotational inertia are physically consistent (positive mass,
positive-definite inertia, triangle inequality; the mass distribution exists) exactly when its
4x4 pseudo-inertia J = [[S, m c], [m c^T, m]] is positive definite, S = (tr I_o / 2) 1 - I_o with
I_o the inertia about the body origin (Wensing et al. 2018). Writing J = U U^T with U upper
triangular,

    U = exp(alpha) [[exp(d1), s12, s13, t1], [0, exp(d2), s23, t2], [0, 0, exp(d3), t3], [0, 0, 0, 1]],

every theta = (alpha, d1, d2, d3, s12, s23, s13, t1, t2, t3) in R^10 gives a consistent body and
every consistent body has one theta (Rucker and Wensing 2022). So the fit searches theta freely
and every candidate passes MuJoCo's inertia checks. t is the centre of mass (m), alpha = log(m) / 2.

`inertial@BODY` in --params is these ten numbers (`inertial@BODY.alpha`, ...); they are written
into body_mass, body_ipos, body_iquat and body_inertia (principal axes) of each candidate.
"""

from __future__ import annotations

from collections.abc import Callable

import mujoco
import numpy as np

NAMES = ("alpha", "d1", "d2", "d3", "s12", "s23", "s13", "t1", "t2", "t3")


STANDARD = ("m", "mx", "my", "mz", "Ixx", "Ixy", "Ixz", "Iyy", "Iyz", "Izz")
"""The ten standard parameters of a body: mass, first moment m c, inertia about the body origin."""


def standard_of(model: mujoco.MjModel, body: int) -> np.ndarray:
    """(10,) standard parameters (`STANDARD`) of `body`'s compiled inertial."""
    mass, com = float(model.body_mass[body]), np.array(model.body_ipos[body])
    rot = np.empty(9)
    mujoco.mju_quat2Mat(rot, model.body_iquat[body])
    rot = rot.reshape(3, 3)
    inertia_o = rot @ np.diag(model.body_inertia[body]) @ rot.T + mass * (com @ com * np.eye(3) - np.outer(com, com))
    return np.array([mass, *(mass * com), *inertia_o[np.triu_indices(3)]])


def pseudo_from_standard(phi: np.ndarray) -> np.ndarray:
    """(10,) standard parameters -> (4, 4) pseudo-inertia; positive definite iff physically consistent."""
    inertia = np.array([[phi[4], phi[5], phi[6]], [phi[5], phi[7], phi[8]], [phi[6], phi[8], phi[9]]])
    pseudo = np.zeros((4, 4))
    pseudo[:3, :3] = 0.5 * np.trace(inertia) * np.eye(3) - inertia
    pseudo[:3, 3] = pseudo[3, :3] = phi[1:4]
    pseudo[3, 3] = phi[0]
    return pseudo


def standard_from_pseudo(pseudo: np.ndarray) -> np.ndarray:
    """(4, 4) pseudo-inertia -> (10,) standard parameters."""
    second = pseudo[:3, :3]
    inertia = np.trace(second) * np.eye(3) - second
    return np.array([pseudo[3, 3], *pseudo[:3, 3], *inertia[np.triu_indices(3)]])


def theta_from_pseudo(pseudo: np.ndarray) -> np.ndarray:
    """(4, 4) positive-definite pseudo-inertia -> (10,) log-Cholesky coordinates."""
    flip = np.eye(4)[::-1]
    u = flip @ np.linalg.cholesky(flip @ pseudo @ flip) @ flip  # upper triangular, J = U U^T
    scale = u[3, 3]
    v = u / scale
    return np.array([np.log(scale), *np.log(np.diag(v)[:3]), v[0, 1], v[1, 2], v[0, 2], *v[:3, 3]])


def pseudo_from_theta(theta: np.ndarray) -> np.ndarray:
    """(10,) log-Cholesky coordinates -> (4, 4) pseudo-inertia U U^T."""
    alpha, d1, d2, d3, s12, s23, s13, t1, t2, t3 = theta
    u = np.exp(alpha) * np.array([[np.exp(d1), s12, s13, t1], [0, np.exp(d2), s23, t2], [0, 0, np.exp(d3), t3], [0, 0, 0, 1]])
    return u @ u.T


def standard_from_theta(theta: np.ndarray) -> np.ndarray:
    """(10,) log-Cholesky coordinates -> (10,) standard parameters."""
    return standard_from_pseudo(pseudo_from_theta(theta))


def principal(phi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(10,) standard parameters (m != 0) -> the body arrays: mass (kg), com (3,) m, iquat (4,) of the
    principal axes, inertia (3,) kg m^2 about the centre of mass."""
    mass = float(phi[0])
    com = np.asarray(phi[1:4]) / mass
    inertia_o = np.array([[phi[4], phi[5], phi[6]], [phi[5], phi[7], phi[8]], [phi[6], phi[8], phi[9]]])
    moments, axes = np.linalg.eigh(inertia_o - mass * (com @ com * np.eye(3) - np.outer(com, com)))
    if np.linalg.det(axes) < 0:
        axes[:, 2] = -axes[:, 2]
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, axes.ravel())
    return mass, com, quat, moments


def write_standard(model: mujoco.MjModel, body: int, phi: np.ndarray) -> None:
    """Write (10,) standard parameters (m != 0, consistent or not) into `model`'s body arrays."""
    model.body_mass[body], model.body_ipos[body], model.body_iquat[body], model.body_inertia[body] = principal(phi)
    # The compiler marks a body whose inertial frame coincides with its own (body_sameframe) and
    # kinematics then skips body_ipos / body_iquat: a written centre of mass or rotation would be ignored.
    model.body_sameframe[body] = mujoco.mjtSameFrame.mjSAMEFRAME_NONE


def theta_from_body(model: mujoco.MjModel, body: int) -> np.ndarray:
    """(10,) log-Cholesky coordinates of `body`'s compiled inertial."""
    return theta_from_pseudo(pseudo_from_standard(standard_of(model, body)))


def body_from_theta(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(10,) theta -> mass (kg), com (3,) m, iquat (4,) of the principal axes, inertia (3,) kg m^2."""
    return principal(standard_from_theta(theta))


def writer(body: int, index: int) -> Callable[[mujoco.MjModel, float], None]:
    """A function (model copy, value) -> None setting theta[index] of `body` in that copy: the other
    nine coordinates are read back from the copy's arrays (the round trip is exact to rounding), so
    the writers of one body need no shared state and a partly fitted theta keeps the rest."""

    def write(m: mujoco.MjModel, v: float) -> None:
        theta = theta_from_body(m, body)
        theta[index] = v
        write_standard(m, body, standard_from_theta(theta))

    return write


def default_bounds(index: int, initial: float, theta: np.ndarray, com_half: float) -> tuple[float, float]:
    """Default (lower, upper) of theta[index]: mass and the principal lengths within a factor of
    about 10 (alpha, d: +-1.15), the centre of mass +-com_half (m), the shears +-2 times the body's
    largest length scale."""
    if index < 4:
        return initial - 1.15, initial + 1.15
    if index >= 7:
        return initial - com_half, initial + com_half
    spread = 2 * float(np.exp(theta[1:4]).max())
    return initial - spread, initial + spread
