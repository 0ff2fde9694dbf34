"""Inverse-dynamics identification: the linear solve on base parameters, then a physically
consistent solve in the log-Cholesky coordinates of `sysid.inertial`.

    measured effort = Y(q, qd, qdd) phi + armature qdd + friction(qd) + rest      (per joint, per row)

1. Linear: the regressor's base parameters (`regressor.base_parameters`) by least squares, each
   joint's rows divided by its residual scale (a first unweighted solve estimates it).
2. Consistent: theta (10 per body) and the friction coefficients by `scipy.optimize.least_squares`,
   started from the linear solution (completed to all parameters by the smallest change of the
   initial model's, then made consistent), with a weak prior (theta - theta_initial) / prior_std so the
   directions the data do not see stay at the initial model. Every candidate is a valid rigid body.
   Without the sigmoid friction the data term is compressed to the regressor's R factor (exact for
   least squares), so the solve costs microseconds per evaluation whatever the log's length.
3. Intervals: Jacobian (Gauss-Newton, i.i.d. residuals), a sandwich over windows of the logs and a
   block bootstrap over the same windows (`sysid.inverse.intervals`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import mujoco
import numpy as np
from scipy import optimize, stats

from sysid.data import Log
from sysid.errors import UserError
from sysid.inertial import STANDARD, pseudo_from_standard, standard_from_pseudo, standard_from_theta, standard_of, theta_from_pseudo
from sysid.inverse import friction as fr
from sysid.inverse.intervals import block_bootstrap, sandwich
from sysid.inverse.regressor import BaseParameters, base_parameters, body_regressor, consistent
from sysid.inverse.signals import FilterSpec, Samples, prepare
from sysid.params import ParamSet
from sysid.sim import single_threaded_blas
from sysid.uncertainty import Uncertainty, uncertainty

KINDS = ("inertial", "damping", "frictionloss", "armature")
FD_THETA = 1e-6  # central-difference step of d phi / d theta


@dataclasses.dataclass(frozen=True)
class InverseOptions:
    """Options of the inverse-dynamics solve (config key `inverse:`).

    Attributes:
      friction: friction models of every joint with an effort column (`sysid.inverse.friction.MODELS`).
      filter: the zero-phase filter (`FilterSpec`).
      prior_std: std of the prior on the log-Cholesky coordinates (and the relative std of armature)
        that holds the directions the data cannot see at the initial model.
      bootstrap: block-bootstrap resamples (0: none).
      seed: seeds the bootstrap.
    """

    friction: tuple[str, ...] = ("viscous", "coulomb", "offset")
    filter: FilterSpec = FilterSpec()
    prior_std: float = 1.0
    bootstrap: int = 200
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "friction", fr.check_models(self.friction))
        if not (isinstance(self.prior_std, (int, float)) and self.prior_std > 0):
            raise UserError(f"config: inverse.prior_std must be a positive number, got {self.prior_std!r}")
        if not (isinstance(self.bootstrap, int) and 0 <= self.bootstrap <= 100000):
            raise UserError(f"config: inverse.bootstrap must be a whole number >= 0, got {self.bootstrap!r}")

    @classmethod
    def from_config(cls, raw, *, seed: int = 0) -> "InverseOptions":
        """From the config's `inverse:` mapping (None: defaults)."""
        raw = {k: v for k, v in dict(raw or {}).items() if k != "weight"}  # weight: sysid.inverse.run's
        allowed = {"friction", "filter", "prior_std", "bootstrap"}
        if set(raw) - allowed:
            raise UserError(f"config: inverse: unknown key(s) {sorted(set(raw) - allowed)}; allowed: {sorted(allowed)}")
        filt = raw.pop("filter", None) or {}
        if not isinstance(filt, dict) or set(filt) - {"method", "cutoff_hz", "order", "block_s"}:
            raise UserError(f"config: inverse.filter must map method, cutoff_hz, order, block_s to values, got {filt!r}")
        return cls(filter=FilterSpec(**filt), seed=seed, **raw)


@dataclasses.dataclass
class Problem:
    """The linear least-squares problem built from the logs: y = W p + noise, rows joint-normalised.

    W: (M, P) regressor rows (sample-major, joint-minor); y: (M,) effort minus `rest`; names: (P,)
    column names ("Izz@link1", "viscous@joint1", ...); row_joint, row_block: (M,) joint index and
    window of each row; p0: (P,) the initial model's parameters; bodies: fitted body ids.
    """

    W: np.ndarray
    y: np.ndarray
    names: list[str]
    row_joint: np.ndarray
    row_block: np.ndarray
    p0: np.ndarray
    bodies: list[int]
    body_names: list[str]
    joints: tuple[str, ...]
    samples: Samples
    linear_friction: tuple[str, ...]
    qd_rows: np.ndarray  # (M,) velocity of each row's joint, for the sigmoid


def build_problem(model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet, options: InverseOptions) -> Problem:
    """Check `params`, filter the logs and build the regressor."""
    for p in params:
        if p.kind not in KINDS:
            raise UserError(f"--objective inverse fits {', '.join(k + '@...' for k in KINDS)}; {p.name} is not one of them "
                            f"(use --objective forward or forward+inverse for it)")
    body_names = list(dict.fromkeys(p.target for p in params if p.kind == "inertial"))
    linear = [m for m in options.friction if m in fr.LINEAR]
    if "sigmoid" in options.friction:
        linear.append("coulomb")  # the linear solve's stand-in; the nonlinear solve replaces it
    samples = prepare(model, logs, options.filter, friction=linear)
    for p in params:
        if p.kind != "inertial" and p.target not in samples.joints:
            raise UserError(f"--objective inverse: {p.name}: joint {p.target!r} has no '.effort' column; its torque is not measured")
    needs = {"damping": ("viscous",), "frictionloss": ("coulomb", "sigmoid")}
    for p in params:
        if p.kind in needs and not set(needs[p.kind]) & set(options.friction):
            raise UserError(f"--objective inverse: {p.name} is fitted but config inverse.friction {list(options.friction)} has no "
                            f"{' or '.join(needs[p.kind])} term for it")
    bodies = [model.body(n).id for n in body_names]
    Y, rest = body_regressor(model, bodies, samples)
    n, k = samples.tau.shape
    armature = [p.target for p in params if p.kind == "armature"]
    cols = [Y.reshape(n * k, -1)]
    names = [f"{s}@{b}" for b in body_names for s in STANDARD]
    p0 = [standard_of(model, b) for b in bodies]
    dof_rows = np.tile(np.arange(k), n)
    for j in armature:
        jk = samples.joints.index(j)
        col = np.zeros((n, k))
        col[:, jk] = samples.qdd[:, samples.dofs[jk]]
        cols.append(col.reshape(-1, 1))
        names.append(f"armature@{j}")
        p0.append([model.dof_armature[samples.dofs[jk]]])
        rest[:, jk] -= model.dof_armature[samples.dofs[jk]] * samples.qdd[:, samples.dofs[jk]]
    qd = samples.qd[:, samples.dofs]
    for jk, j in enumerate(samples.joints):
        for m in linear:
            col = np.zeros((n, k))
            col[:, jk] = samples.friction[m][:, jk]
            cols.append(col.reshape(-1, 1))
            names.append(f"{m}@{j}")
            dof = samples.dofs[jk]
            p0.append([model.dof_damping[dof] if m == "viscous" else model.dof_frictionloss[dof] if m == "coulomb" else 0.0])
    W = np.concatenate(cols, axis=1)
    y = (samples.tau - rest).reshape(-1)
    return Problem(W, y, names, dof_rows, np.repeat(samples.block, k), np.concatenate([np.ravel(x) for x in p0]) if p0 else np.zeros(0),
                   bodies, body_names, samples.joints, samples, tuple(linear), qd.reshape(-1))


@dataclasses.dataclass(frozen=True)
class LinearSolution:
    """The weighted least-squares solution on the base parameters.

    beta: (r,) base parameters; std_jacobian, std_sandwich, std_bootstrap: (r,) their standard
    errors; ci95_robust: (r, 2) beta -+ t(W - 1) x the larger of the sandwich and bootstrap errors, W
    windows (cluster-robust inference with few windows uses Student's t with W - 1 degrees of
    freedom); sigma: (k,) each joint's residual scale (N m) used as its noise level; p: (P,) all
    parameters (the initial model's, changed least to match beta).
    """

    base: BaseParameters
    beta: np.ndarray
    std_jacobian: np.ndarray
    std_sandwich: np.ndarray
    std_bootstrap: np.ndarray
    ci95_robust: np.ndarray
    sigma: np.ndarray
    p: np.ndarray
    residual_scale: float


def solve_linear(problem: Problem, *, bootstrap: int = 200, seed: int = 0) -> LinearSolution:
    """Base parameters by weighted least squares, with Jacobian, sandwich and bootstrap errors."""
    W, y = problem.W, problem.y
    base = base_parameters(W)
    WB = W[:, base.index]
    beta0 = np.linalg.lstsq(WB, y, rcond=None)[0]
    r0 = y - WB @ beta0
    k = len(problem.joints)
    dof = max(len(y) - base.rank, 1) / len(y)
    sigma = np.array([np.sqrt(np.mean(r0[problem.row_joint == j] ** 2) / dof) for j in range(k)])
    sigma = np.maximum(sigma, 1e-12 * max(sigma.max(), 1e-300))
    w = 1.0 / sigma[problem.row_joint]
    A, b = WB * w[:, None], y * w
    beta = np.linalg.lstsq(A, b, rcond=None)[0]
    r = b - A @ beta
    s2 = float(r @ r) / max(len(r) - base.rank, 1)
    cov = s2 * np.linalg.pinv(A.T @ A)
    std_sand = np.sqrt(np.diag(sandwich(A, r, problem.row_block)))
    std_boot = block_bootstrap(A, b, problem.row_block, resamples=bootstrap, seed=seed)
    windows = len(np.unique(problem.row_block))
    half = stats.t.ppf(0.975, max(windows - 1, 1)) * np.fmax(std_sand, np.nan_to_num(std_boot))
    M = base.matrix(W.shape[1])
    p = problem.p0 + np.linalg.pinv(M) @ (beta - M @ problem.p0)
    return LinearSolution(base, beta, np.sqrt(np.diag(cov)), std_sand, std_boot, np.stack([beta - half, beta + half], 1),
                          sigma, p, float(np.sqrt(s2)))


@dataclasses.dataclass(frozen=True)
class InverseResult:
    """An inverse-dynamics fit.

    Attributes:
      params, values: the fitted ParamSet and its (n,) values (theta for `inertial`, the viscous
        coefficient for `damping`, the Coulomb level for `frictionloss`, armature).
      extra: name -> value of the friction terms that are no MJCF parameter of the fit (offsets,
        sigmoids, friction of joints whose damping / frictionloss is not fitted).
      phi: (nbody, 10) the fitted bodies' standard parameters; consistent: (nbody,) each one's check.
      linear: the linear solution; beta_consistent: (r,) base parameters of the consistent solution.
      uncertainty: Jacobian intervals of `values`; robust_std: (n,) their sandwich (over windows) errors.
      rmse: joint -> torque RMSE (N m) of the consistent solution; rmse_initial: of the initial model.
      timings: s per step (regressor, linear, consistent, intervals).
      problem: the regressor problem; widened: parameters whose search box was widened to the value;
      layout, z: the consistent solve's variables and their solution (for `torque_residuals`).
    """

    params: ParamSet
    values: np.ndarray
    extra: dict[str, float]
    phi: np.ndarray
    consistent: np.ndarray
    linear: LinearSolution
    beta_consistent: np.ndarray
    uncertainty: Uncertainty
    robust_std: np.ndarray
    rmse: dict[str, float]
    rmse_initial: dict[str, float]
    timings: dict[str, float]
    problem: Problem
    widened: tuple[str, ...] = ()
    layout: "_Layout | None" = None
    z: np.ndarray | None = None

    def torque_residuals(self, values: np.ndarray) -> np.ndarray:
        """(B, n) values of `params` -> (B, rows) the inverse-dynamics data residuals in noise units, the
        friction terms outside `params` held at their fitted values: without the sigmoid the rows of
        the regressor's R factor (their sum of squares is the loss up to a constant), else every row."""
        values = np.atleast_2d(values)
        z = np.repeat(self.z[None], len(values), axis=0)
        z[:, : len(self.params)] = values
        return np.stack([self.layout.data(zi, jacobian=False)[0] for zi in z])

    def base_report(self) -> list[dict]:
        """result.json's `inverse.base_parameters`: one entry per base parameter."""
        lin = self.linear
        texts = lin.base.describe(self.problem.names)
        return [{"combination": t, "linear": float(b), "consistent": float(c), "std_jacobian": float(sj),
                 "std_sandwich": float(ss), "std_bootstrap": float(sb), "ci95_jacobian": [float(b - 1.96 * sj), float(b + 1.96 * sj)],
                 "ci95_robust": [float(lo), float(hi)]}
                for t, b, c, sj, ss, sb, (lo, hi) in zip(texts, lin.beta, self.beta_consistent, lin.std_jacobian,
                                                         lin.std_sandwich, lin.std_bootstrap, lin.ci95_robust)]


def fit_inverse(model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet, options: InverseOptions = InverseOptions()) -> InverseResult:
    """Fit `params` (kinds in KINDS) to the logs' measured efforts (see the module docstring)."""
    with single_threaded_blas():
        t0 = time.perf_counter()
        problem = build_problem(model, logs, params, options)
        t1 = time.perf_counter()
        lin = solve_linear(problem, bootstrap=options.bootstrap, seed=options.seed)
        t2 = time.perf_counter()
        layout = _Layout(model, problem, params, options)
        z, r, J, groups = layout.solve(lin)
        t3 = time.perf_counter()
        result = layout.result(z, r, J, groups, lin, {"regressor_s": t1 - t0, "linear_s": t2 - t1, "consistent_s": t3 - t2})
        result.timings["intervals_s"] = time.perf_counter() - t3
        result.timings["total_s"] = time.perf_counter() - t0
    return result


class _Layout:
    """The consistent solve's variables z = (ParamSet values, then the extra friction terms) and
    their map to the linear parameters p of the regressor."""

    def __init__(self, model: mujoco.MjModel, problem: Problem, params: ParamSet, options: InverseOptions):
        self.model, self.problem, self.params, self.options = model, problem, params, options
        names = problem.names
        self.col = {n: i for i, n in enumerate(names)}
        self.sigmoid = "sigmoid" in options.friction
        listed = {(p.kind, p.target): i for i, p in enumerate(params)}
        for p in params:
            if p.kind == "inertial" and len([q for q in params if q.kind == "inertial" and q.target == p.target]) != 10:
                raise UserError(f"--objective inverse: {p.name}: list the whole inertial@{p.target} (all ten coordinates)")
        self.extra_names: list[str] = []
        self.extra_init: list[float] = []
        self.extra_bounds: list[tuple[float, float]] = []
        self.map: list[tuple[int, int]] = []  # (z index, p column) for the direct (linear) terms
        for kind, model_name in (("damping", "viscous"), ("frictionloss", "coulomb"), ("armature", "armature")):
            for j in problem.joints:
                column = self.col.get(f"{model_name}@{j}")
                if (kind, j) in listed:
                    if column is None or (kind == "frictionloss" and self.sigmoid):
                        continue
                    self.map.append((listed[(kind, j)], column))
                elif column is not None and not (model_name == "coulomb" and self.sigmoid):
                    self._extra(f"{model_name}@{j}", column, (-np.inf, np.inf))
        for j in problem.joints:
            if "offset" in problem.linear_friction:
                self._extra(f"offset@{j}", self.col[f"offset@{j}"], (-np.inf, np.inf))
        self.n = len(params)
        self.sig_index = []
        if self.sigmoid:
            for jk, j in enumerate(problem.joints):
                start = self.n + len(self.extra_names)
                self.extra_names += [f"sigmoid@{j}.phi1", f"sigmoid@{j}.phi2", f"sigmoid@{j}.phi3"]
                self.extra_init += [0.0, 2.0 / fr.COULOMB_WIDTH, 0.0]
                self.extra_bounds += [(0.0, np.inf), (1e-3, 1e5), (-np.inf, np.inf)]
                self.sig_index.append((jk, start, listed.get(("frictionloss", j))))
        self.theta_index = [(body, [i for _, i in sorted((p.index, i) for i, p in enumerate(params)
                                                         if p.kind == "inertial" and p.target == name)])
                            for body, name in zip(problem.bodies, problem.body_names)]
        self.keep = np.array(sorted(set(range(len(names))) - ({self.col[f"coulomb@{j}"] for j in problem.joints} if self.sigmoid else set())), int)

    def _extra(self, name: str, column: int, bounds: tuple[float, float]) -> None:
        self.map.append((len(self.params) + len(self.extra_names), column))
        self.extra_names.append(name)
        self.extra_init.append(0.0)
        self.extra_bounds.append(bounds)

    def linear_p(self, z: np.ndarray) -> np.ndarray:
        """(dim,) -> (P,) linear parameters (the sigmoids' coulomb columns left 0)."""
        p = np.zeros(len(self.problem.names))
        for b, (_, idx) in enumerate(self.theta_index):
            p[10 * b: 10 * b + 10] = standard_from_theta(z[idx])
        for zi, column in self.map:
            p[column] = z[zi]
        return p

    def dp_dz(self, z: np.ndarray) -> np.ndarray:
        """(P, dim) Jacobian of `linear_p` (central differences for phi(theta), exact elsewhere)."""
        D = np.zeros((len(self.problem.names), len(z)))
        for b, (_, idx) in enumerate(self.theta_index):
            for i in idx:
                e = np.zeros(len(z))
                e[i] = FD_THETA
                D[10 * b: 10 * b + 10, i] = (standard_from_theta((z + e)[idx]) - standard_from_theta((z - e)[idx])) / (2 * FD_THETA)
        for zi, column in self.map:
            D[column, zi] = 1.0
        return D

    def sigmoid_torque(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M,) sigmoid friction torque of every row and (M, dim) its Jacobian."""
        prob = self.problem
        tau, J = np.zeros(len(prob.y)), np.zeros((len(prob.y), len(z)))
        for jk, start, _ in self.sig_index:
            rows = prob.row_joint == jk
            phi = z[start: start + 3]
            qd = prob.qd_rows[rows]
            tau[rows] = fr.sigmoid(qd, *phi)
            for i in range(3):
                e = np.zeros(3)
                e[i] = 1e-7 * max(1.0, abs(phi[i]))
                J[rows, start + i] = (fr.sigmoid(qd, *(phi + e)) - fr.sigmoid(qd, *(phi - e))) / (2 * e[i])
        return tau, J

    def start(self, lin: LinearSolution) -> np.ndarray:
        """The linear solution as a consistent start inside the bounds."""
        z = np.concatenate([self.params.initial, self.extra_init])
        for b, (body, idx) in enumerate(self.theta_index):
            z[idx] = theta_from_pseudo(pseudo_from_standard(_nearest_consistent(lin.p[10 * b: 10 * b + 10])))
        for zi, column in self.map:
            z[zi] = lin.p[column]
        for jk, start, _ in self.sig_index:
            z[start] = 2 * abs(lin.p[self.col[f"coulomb@{self.problem.joints[jk]}"]])
        lo, hi = self.bounds()
        margin = 1e-9 * np.maximum(np.abs(z), 1.0)
        return np.clip(z, lo + margin, hi - margin)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The solve's box: a fitted parameter's physical lower bound only (0 for friction and armature,
        none for theta, where every value is a valid body); the ParamSet's search box is widened to
        the result afterwards (`widened`)."""
        physical = np.array([-np.inf if p.kind == "inertial" else max(p.lower, 0.0) for p in self.params])
        lo = np.concatenate([physical, [b[0] for b in self.extra_bounds]])
        hi = np.concatenate([np.full(len(self.params), np.inf), [b[1] for b in self.extra_bounds]])
        return lo, hi

    def widened(self, values: np.ndarray) -> tuple[ParamSet, list[str]]:
        """The ParamSet with each search box widened to hold its fitted value (by half the value's
        distance past the bound), and the names of those widened."""
        out, names = [], []
        for p, v in zip(self.params, values):
            lo, hi = p.lower, p.upper
            if v <= lo + 1e-9 * (hi - lo):
                lo = max(v - 0.5 * (lo - v) - 0.1 * (hi - lo), 0.0 if p.transform == "log" else -np.inf)
            if v >= hi - 1e-9 * (hi - lo):
                hi = v + 0.5 * (v - hi) + 0.1 * (hi - lo)
            if (lo, hi) != (p.lower, p.upper):
                names.append(p.name)
                p = dataclasses.replace(p, lower=lo, upper=hi)
            out.append(p)
        return ParamSet(out, model=self.model), names

    def weigh(self, lin: LinearSolution) -> None:
        """Fix the rows' noise levels (the linear solve's per-joint residual scales) and the compressed data term."""
        prob = self.problem
        self.weights = w = 1.0 / lin.sigma[prob.row_joint]
        self.A, self.b = prob.W[:, self.keep] * w[:, None], prob.y * w
        if not self.sigmoid:
            Q, self.R = np.linalg.qr(self.A)
            self.target = Q.T @ self.b

    def data(self, z: np.ndarray, *, full: bool = False, jacobian: bool = True):
        """Noise-normalised torque residuals (model - measured) at z and their Jacobian (dim columns):
        all rows (`full`), or, without the sigmoid, the R-factor rows, whose sum of squares differs
        from all rows' by a constant."""
        p = self.linear_p(z)[self.keep]
        D = self.dp_dz(z)[self.keep] if jacobian else None
        if not self.sigmoid and not full:
            return self.R @ p - self.target, (self.R @ D if jacobian else None)
        r = self.A @ p - self.b
        J = self.A @ D if jacobian else None
        if self.sigmoid:
            tau, Js = self.sigmoid_torque(z)
            r = r + tau * self.weights
            J = J + Js * self.weights[:, None] if jacobian else None
        return r, J

    def solve(self, lin: LinearSolution):
        prob = self.problem
        self.weigh(lin)
        z0 = self.start(lin)
        prior_idx = np.array([i for _, idx in self.theta_index for i in idx]
                             + [i for i, p in enumerate(self.params) if p.kind == "armature"], int)
        prior_scale = np.array([self.options.prior_std] * sum(len(idx) for _, idx in self.theta_index)
                               + [self.options.prior_std * max(p.initial, 1e-2) for p in self.params if p.kind == "armature"])
        prior_center = np.concatenate([self.params.initial, self.extra_init])[prior_idx]

        def residuals(z, full=False):
            r, J = self.data(z, full=full)
            rp = (z[prior_idx] - prior_center) / prior_scale
            Jp = np.zeros((len(prior_idx), len(z)))
            Jp[np.arange(len(prior_idx)), prior_idx] = 1.0 / prior_scale
            return np.concatenate([r, rp]), np.concatenate([J, Jp])

        lo, hi = self.bounds()
        sol = optimize.least_squares(lambda z: residuals(z)[0], z0, jac=lambda z: residuals(z)[1], bounds=(lo, hi),
                                     method="trf", x_scale="jac", max_nfev=200)
        r, J = residuals(sol.x, full=True)
        groups = np.concatenate([prob.row_joint, np.full(len(prior_idx), -1)])
        return sol.x, r, J, groups

    def result(self, z, r, J, groups, lin: LinearSolution, timings: dict) -> InverseResult:
        prob, n = self.problem, len(self.params)
        values = z[:n].copy()
        for jk, start, index in self.sig_index:
            if index is not None:  # frictionloss carries the sigmoid's mean Coulomb level
                values[index] = 0.5 * z[start]
        params, widened = self.widened(values)
        extra = {name: float(v) for name, v in zip(self.extra_names, z[n:])}
        phi = np.array([standard_from_theta(z[idx]) for _, idx in self.theta_index]).reshape(-1, 10)
        p = self.linear_p(z)
        beta_c = lin.base.project(p)
        dv = params.value_per_unit(values)
        Ju = np.concatenate([J[:, :n] * dv[None, :], J[:, n:]], axis=1)
        unc = uncertainty(params, values, Ju, r, n_extra=len(z) - n, groups=groups)
        blocks = np.concatenate([prob.row_block, np.full(len(r) - len(prob.row_block), -1)])
        robust = np.sqrt(np.clip(np.diag(sandwich(J, r, blocks))[:n], 0, None))
        fitted = r[: len(prob.y)] / self.weights  # residuals in N m (model - measured)
        p_init = prob.p0.copy()
        init_res = prob.W @ p_init - prob.y
        rmse = {j: float(np.sqrt(np.mean(fitted[prob.row_joint == jk] ** 2))) for jk, j in enumerate(prob.joints)}
        rmse0 = {j: float(np.sqrt(np.mean(init_res[prob.row_joint == jk] ** 2))) for jk, j in enumerate(prob.joints)}
        return InverseResult(params, values, extra, phi, np.array([consistent(f) for f in phi], bool), lin, beta_c, unc,
                             robust, rmse, rmse0, timings, prob, tuple(widened), self, z)


def _nearest_consistent(phi: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """The standard parameters whose pseudo-inertia is the nearest positive-definite one (eigenvalues
    raised to `floor` x the largest)."""
    pseudo = pseudo_from_standard(phi)
    eig, vec = np.linalg.eigh(pseudo)
    if eig.min() > floor * eig.max():
        return phi
    eig = np.maximum(eig, floor * max(eig.max(), 1e-9))
    return standard_from_pseudo((vec * eig) @ vec.T)
