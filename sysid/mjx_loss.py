"""The multiple-shooting loss in JAX through `mujoco.mjx`, with its exact Jacobian by forward-mode AD.

`MjxLoss` mirrors an `Objective` (same windows, start states, controls, interpolation between
model steps, per-signal normalisation, priors): the windows run in parallel (`jax.vmap`), the
steps in `jax.lax.scan`, in float64. The Jacobian is forward-mode (`jax.jacfwd`) per window,
over the parameters and that window's own start-state offsets: MJX's constraint solver is a
`lax.while_loop`, which reverse mode cannot differentiate, and with few parameters forward
mode is the cheaper one anyway. It runs on a GPU when JAX has one, else on the CPU.

Only what changes the physics is differentiated: parameters are written into the MJX model as
`field[index] = base + coef * value`. Constants that `mj_setConst` derives from masses and
armature (the constraint solver's `invweight0`) stay at their start values; they only soften
constraints (frictionloss, limits, contacts), whose gradients the optimizer checks anyway.
The actuation `delay` has no MJX gradient here: it enters the controls, recomputed per call.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import mujoco  # noqa: E402
from mujoco import mjx  # noqa: E402

from sysid import native  # noqa: E402
from sysid.errors import UserError  # noqa: E402
from sysid.loss import DIVERGED_RESIDUAL  # noqa: E402
from sysid.objective import Objective  # noqa: E402
from sysid.params import Param  # noqa: E402

Write = tuple[str, int, int, float]  # (MjModel field, flat index, parameter index, coefficient)


def _writes(model: mujoco.MjModel, i: int, p: Param) -> list[Write] | None:
    """How parameter i enters the model's arrays (value times coefficient), or None if it cannot."""
    if p.kind in ("damping", "frictionloss", "armature"):
        return [(f"dof_{p.kind}", int(model.joint(p.target).dofadr[0]), i, 1.0)]
    if p.kind == "stiffness":
        return [("jnt_stiffness", model.joint(p.target).id, i, 1.0)]
    if p.kind == "mass":
        return [("body_mass", model.body(p.target).id, i, 1.0)]
    if p.kind == "inertia":
        b = model.body(p.target).id
        return [("body_inertia", 3 * b + k, i, float(model.body_inertia[b, k])) for k in range(3)]
    if p.kind == "com":
        return [("body_ipos", 3 * model.body(p.target).id + p.index, i, 1.0)]
    if p.kind == "gear":
        return [("actuator_gear", model.actuator(p.target).id * 6, i, 1.0)]
    if p.kind in ("kp", "kv", "ki", "kd", "vmax", "imax", "motorconst"):  # gains: linear in the arrays (sysid.native)
        a = model.actuator(p.target).id
        slots = native.SLOTS.get((p.kind, native.family(model, a)), ())
        return [(f"actuator_{field}", a * getattr(model, f"actuator_{field}").shape[1] + k, i, sign)
                for field, k, sign in slots] or None
    return None  # delay, limits, resistance (with the inductance), the log-Cholesky inertial


class MjxLoss:
    """An `Objective`'s loss and gradient through MJX.

    Args:
      objective: the stage's objective (its windows, priors and decision-vector layout).
      x0: (dim,) decision vector whose parameter values are written into the MJX model (they
        set the constants derived by mj_setConst).
    Attributes:
      differentiable: (n,) False for parameters MJX cannot differentiate here (delay).
    """

    def __init__(self, objective: Objective, x0: np.ndarray):
        self.objective = objective
        shooting, params = objective.shooting, objective.params
        if shooting.sim.loop is not None:
            raise UserError("the mjx optimizer cannot run actuator models or residual dynamics in the loop; use cmaes+lsq")
        if shooting.measurement.active or (shooting.windows.entry_sensor >= 0).any():
            raise UserError("the mjx optimizer compares joint states only: MJCF sensor columns and measurement "
                            "parameters (offset, sensor_*) need cmaes+lsq")
        if shooting.windows.rot_entry.size:
            raise UserError("the mjx optimizer does not compare free or ball joint orientations (J.pos[k] columns); use cmaes+lsq")
        self.n, self.nx, self.nwin = objective.n, shooting.nx, shooting.n_windows
        base = shooting.sim.candidate_models(params.from_unit(x0[None, : self.n]))[0]
        self.model = mjx.put_model(base)
        writes = [_writes(base, i, p) for i, p in enumerate(params)]
        self.differentiable = np.array([w is not None for w in writes])
        self.writes = tuple(w for ws in writes if ws for w in ws)
        self.transform = tuple(jnp.asarray(a) for a in (
            [float(p.to_z(p.lower)) for p in params], [float(p.to_z(p.upper)) for p in params],
            [p.floor for p in params], [p.transform == "log" for p in params]))
        # Entries per window, padded to the longest window.
        win = shooting.windows
        counts = np.bincount(win.entry_window, minlength=self.nwin)
        k = int(counts.max())
        slot = np.arange(len(win.entry_window)) - np.concatenate([[0], np.cumsum(counts)[:-1]])[win.entry_window]
        self.slots = (win.entry_window, slot)
        pad = lambda values, fill: self._pad(values, fill, k)  # noqa: E731
        self.entries = tuple(jnp.asarray(a) for a in (
            pad(win.entry_step, 0), pad(win.entry_frac, 0.0), pad(win.entry_state, 0), pad(win.entry_target, 0.0),
            pad(win.entry_sigma, 1.0), pad(np.ones(len(win.entry_window), bool), False)))
        self.initial = jnp.asarray(shooting.initial)
        self.refine = (jnp.asarray(shooting.refine_index), jnp.asarray(shooting.refine_scale))
        self.gradient_steps = 0

    def _pad(self, values: np.ndarray, fill, k: int) -> np.ndarray:
        out = np.full((self.nwin, k), fill, dtype=np.asarray(values).dtype)
        out[self.slots] = values
        return out

    def _split(self, x: np.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
        """(dim,) decision vector -> parameters u (n,), offsets (W, nx), controls (W, nstep, nu)."""
        objective, shooting = self.objective, self.objective.shooting
        offsets = x[self.n :].reshape(self.nwin, self.nx) if objective.refine_states else np.zeros((self.nwin, self.nx))
        delay = objective.params.delay_index
        controls = shooting._fixed_controls if delay is None else shooting.controls(
            float(objective.params.from_unit(x[: self.n])[delay]))
        return jnp.asarray(x[: self.n]), jnp.asarray(offsets), jnp.asarray(controls)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """(dim,) decision vector -> (m,) residuals in the objective's order (data, then priors)."""
        u, offsets, controls = self._split(x)
        r = np.asarray(_residuals(self.model, self.writes, self.transform, u, offsets, controls, self.initial,
                                  self.refine, self.entries))
        values = self.objective.params.from_unit(x[: self.n])
        return np.concatenate([r[self.slots], self.objective.priors.residuals(values)[0]])

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(dim,) decision vector -> loss mean(r^2) and its (dim,) gradient (one gradient step)."""
        objective, n = self.objective, self.n
        u, offsets, controls = self._split(x)
        r, ju, js = (np.asarray(a) for a in _jacobian(self.model, self.writes, self.transform, u, offsets, controls,
                                                    self.initial, self.refine, self.entries))
        self.gradient_steps += 1
        priors, values = objective.priors, objective.params.from_unit(x[:n])
        rp = priors.residuals(values)[0]
        loss = (np.sum(r**2) + np.sum(rp**2)) / objective.m
        grad = np.zeros(objective.dim)
        grad[:n] = np.einsum("wk,wkn->n", r, ju)
        grad[priors.index] += rp * objective.params.value_per_unit(values)[priors.index] / priors.std
        if objective.refine_states:
            grad[n:] = np.einsum("wk,wkx->wx", r, js).ravel()
        return float(loss), 2.0 * grad / objective.m


def _values(transform, u):
    zlo, zhi, floor, log = transform
    z = zlo + jnp.clip(u, 0.0, 1.0) * (zhi - zlo)
    return jnp.where(log, jnp.exp(z) - floor, z)


def _window(model, writes, transform, u, offset, controls, initial, refine, entries):
    """Residuals (K,) of one window: parameters u (n,), start offset (nx,), controls (nstep, nu)."""
    values = _values(transform, u)
    fields: dict[str, jnp.ndarray] = {}
    for field, index, i, coef in writes:
        flat = fields.get(field, getattr(model, field).ravel())
        fields[field] = flat.at[index].set(coef * values[i])
    model = model.replace(**{f: v.reshape(getattr(model, f).shape) for f, v in fields.items()})
    index, scale = refine
    start = initial.at[index].add(offset * scale)
    nq, nv, na = model.nq, model.nv, model.na
    data = mjx.make_data(model).replace(time=start[0], qpos=start[1 : 1 + nq], qvel=start[1 + nq : 1 + nq + nv],
                                        act=start[1 + nq + nv : 1 + nq + nv + na])

    def step(data, ctrl):
        data = mjx.step(model, data.replace(ctrl=ctrl))
        return data, jnp.concatenate([data.time[None], data.qpos, data.qvel, data.act])

    _, states = jax.lax.scan(step, data, controls)
    states = jnp.concatenate([start[None, : 1 + nq + nv + na], states])  # row k: after k steps
    k, frac, state, target, sigma, valid = entries
    simulated = states[k, state] + frac * (states[k + 1, state] - states[k, state])
    r = (simulated - target) / sigma
    return jnp.where(valid, jnp.where(jnp.isfinite(r), r, DIVERGED_RESIDUAL), 0.0)


_AXES = (None, 0, 0, 0, (0, 0), 0)  # u shared; offsets, controls, start, refinement, entries per window


@functools.partial(jax.jit, static_argnums=1)
def _residuals(model, writes, transform, u, offsets, controls, initial, refine, entries):
    """(W, K) residuals of all windows."""
    def one(u, offset, controls, initial, refine, entries):
        return _window(model, writes, transform, u, offset, controls, initial, refine, entries)

    return jax.vmap(one, in_axes=_AXES)(u, offsets, controls, initial, refine, entries)


@functools.partial(jax.jit, static_argnums=1)
def _jacobian(model, writes, transform, u, offsets, controls, initial, refine, entries):
    """(W, K) residuals, (W, K, n) d r / d u and (W, K, nx) d r / d offset of every window."""
    def one(u, offset, controls, initial, refine, entries):
        f = lambda u, offset: _window(model, writes, transform, u, offset, controls, initial, refine, entries)  # noqa: E731
        r = f(u, offset)
        ju, js = jax.jacfwd(f, argnums=(0, 1))(u, offset)
        return r, ju, js

    return jax.vmap(one, in_axes=_AXES)(u, offsets, controls, initial, refine, entries)
