"""Standard errors, 95% intervals, correlations and identifiability from the Jacobian at the optimum."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

from sysid.params import ParamSet

CORRELATION_LIMIT = 0.95  # |correlation| above this: the data cannot tell the two parameters apart


@dataclasses.dataclass(frozen=True)
class Uncertainty:
    """Linearised uncertainty of fitted values (Gauss-Newton covariance).

    Attributes:
      std: (n,) standard errors in each parameter's unit (inf where not identifiable).
      ci95: (n, 2) 95% intervals (value -+ t * std in the search transform, mapped back).
      correlation: (n, n) correlation matrix of the estimates.
      residual_scale: sqrt(sum r^2 / (m - dim)): about 1 when the noise levels are right.
      identifiable: (n,) False where the 95% interval is wider than the bounds or the parameter
        is more than 95% correlated with another one.
      problems: one plain sentence per unidentifiable parameter (or pair), with a remedy.
      combinations: what the data determines even when single parameters are not (`combinations`).
    """

    std: np.ndarray
    ci95: np.ndarray
    correlation: np.ndarray
    residual_scale: float
    identifiable: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, bool))
    problems: tuple[str, ...] = ()
    combinations: tuple[Combination, ...] = ()


@dataclasses.dataclass(frozen=True)
class Combination:
    """One direction in parameter space with its standard error (an eigenvector of the covariance).

    Attributes:
      weights: name -> w, a unit vector over the parameters' scaled changes: the combination is
        sum_i w_i (value_i - fitted_i) / scale_i.
      std: its standard error, in the same scaled (dimensionless) units.
      scale: name -> the scale of each parameter (its value for a log-scaled one, so a change is
        relative; half its range for a linear one that sits near 0).
    """

    weights: dict[str, float]
    std: float
    scale: dict[str, float]

    def as_dict(self) -> dict:
        return {"std": self.std, "weights": self.weights, "scale": self.scale}



def describe_combination(combination: dict) -> str:
    """One line for a result.json combination: its larger weights (d: scaled change) and its std."""
    weights = sorted(combination["weights"].items(), key=lambda kv: -abs(kv[1]))
    terms = " ".join(f"{w:+.2f} d{name}" for name, w in weights if abs(w) >= 0.05)
    return f"{terms} (std {combination['std']:.3g})"


def combinations(params: ParamSet, values: np.ndarray, cov_u: np.ndarray) -> tuple[Combination, ...]:
    """The well- and ill-determined combinations of the parameters, best first.

    Args:
      values: (n,) fitted values; cov_u: (n, n) covariance in the search coordinates u (inf rows
        for directions the data cannot see; those parameters are left out).
    Returns:
      one Combination per eigenvector of the covariance of the scaled changes (value_i - fitted_i) /
      scale_i, sorted by standard error. For masses, centres of mass and inertias that are not
      identifiable one by one, the first ones are what the motion pins down (e.g. m c for a
      pendulum's link).
    """
    finite = np.flatnonzero(np.isfinite(np.diag(cov_u)))
    if finite.size == 0:
        return ()
    scale = np.array([_scale(p, v) for p, v in zip(params, values)])
    d = np.abs(params.value_per_unit(values)) / scale
    cov = (d[finite, None] * cov_u[np.ix_(finite, finite)]) * d[None, finite]
    eigval, eigvec = np.linalg.eigh(0.5 * (cov + cov.T))
    names = [params.names[i] for i in finite]
    out = []
    for k in np.argsort(eigval):
        w = eigvec[:, k] * np.sign(eigvec[np.argmax(np.abs(eigvec[:, k])), k])  # largest weight positive
        out.append(Combination({n: float(x) for n, x in zip(names, w)}, float(np.sqrt(max(eigval[k], 0.0))),
                               {n: float(scale[i]) for n, i in zip(names, finite)}))
    return tuple(out)


def _scale(p, value: float) -> float:
    """The unit a parameter's change is measured in for combinations (see `Combination`)."""
    if p.transform == "log":
        return float(value + p.floor)
    return float(abs(value)) if abs(value) > 0.05 * (p.upper - p.lower) else float(p.upper - p.lower) / 2


def signal_weights(residuals: np.ndarray, groups: np.ndarray, dim: int) -> np.ndarray:
    """(m,) weights 1 / s_g that rescale each signal's residuals to unit variance.

    Args:
      residuals: (m,) normalised residuals at the optimum.
      groups: (m,) signal of each residual; -1 marks residuals whose scale is known (priors).
      dim: fitted variables, whose degrees of freedom are shared out over the signals.
    Returns:
      s_g^2 = sum of the signal's r^2 / (its count - its share of dim); weight 1 where group is -1.
    A signal whose noise level was under-estimated gets a proportionally wider share of the
    uncertainty, instead of one variance pooled over positions and velocities.
    """
    weights = np.ones(len(residuals))
    data = groups >= 0
    m_data = max(int(data.sum()), 1)
    for g in np.unique(groups[data]):
        rows = groups == g
        dof = max(rows.sum() - dim * rows.sum() / m_data, 1.0)
        scale2 = float(residuals[rows] @ residuals[rows]) / dof
        weights[rows] = 1.0 / np.sqrt(scale2) if scale2 > 0 else 1.0
    return weights


def uncertainty(params: ParamSet, values: np.ndarray, jacobian: np.ndarray, residuals: np.ndarray, n_extra: int = 0,
                groups: np.ndarray | None = None) -> Uncertainty:
    """Covariance of the parameters from J (m, n + n_extra) at the optimum.

    The residuals are already divided by each signal's estimated noise level; each signal's
    rows are then rescaled by its own residual variance (`signal_weights`; `groups` (m,) names
    the signal of every row, -1 for priors; None: one pooled variance), so that a wrong noise
    estimate does not make the intervals over- or under-confident. The n_extra trailing
    columns (window start states) are nuisance variables: their uncertainty is marginalised out.
    """
    m, dim = jacobian.shape
    if groups is None:
        groups = np.zeros(m, int)
    weights = signal_weights(residuals, groups, dim)
    # The SVD of J's R factor has J's singular values and right vectors, without forming U (m, dim).
    return parameter_uncertainty(params, values, np.linalg.qr(jacobian * weights[:, None], mode="r"), residuals, m=m, dim=dim)


def parameter_uncertainty(params: ParamSet, values: np.ndarray, factor: np.ndarray, residuals: np.ndarray, *, m: int,
                          dim: int) -> Uncertainty:
    """`uncertainty` from an R factor (k, k >= n) of the weighted Jacobian, parameters first.

    `factor` may hold the nuisance columns after the parameters (the dense case), or the
    parameters only, the nuisance variables already eliminated (`BlockFactor.parameter_factor`):
    either way the parameters' covariance is the same. m: residuals; dim: fitted variables.
    """
    n = len(params)
    dof = max(m - dim, 1)
    # Pseudo-inverse through the SVD: a direction the data cannot see gives an infinite
    # variance to the parameters it involves, not a crash or a silently small number.
    _, sv, vt = np.linalg.svd(factor, full_matrices=False)
    seen = sv > sv[0] * 1e-10
    v = vt[seen, :n]
    cov_u = (v.T / sv[seen] ** 2) @ v
    blind = (vt[~seen, :n] ** 2).sum(axis=0) > 1e-6
    cov_u[blind, :] = cov_u[:, blind] = np.inf
    var_u = np.diag(cov_u).copy()
    var_u[~np.isfinite(var_u)] = np.inf
    std_u = np.sqrt(var_u)
    dv_du = np.abs(params.value_per_unit(values))
    std = dv_du * std_u
    u = params.to_unit(values)
    t = stats.t.ppf(0.975, dof)
    span = np.where(np.isfinite(std_u), t * std_u, 1e9)
    lo = params.from_unit_unclipped(u - span)
    hi = params.from_unit_unclipped(u + span)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov_u / np.sqrt(np.outer(var_u, var_u))
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    identifiable, problems = identifiability(params.names, 2 * span, corr)
    return Uncertainty(std=std, ci95=np.stack([lo, hi], axis=1), correlation=corr,
                       residual_scale=float(np.sqrt(residuals @ residuals / dof)),
                       identifiable=identifiable, problems=problems, combinations=combinations(params, values, cov_u))


def identifiability(names: list[str], width_u: np.ndarray, correlation: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Which parameters the data pins down, and a plain warning for each one it does not.

    Args:
      names: (n,) parameter names.
      width_u: (n,) width of each 95% interval in the unit box (1 = the whole range between the
        bounds, in the search transform).
      correlation: (n, n) correlation matrix.
    Returns:
      (n,) identifiable flags and the warnings, each naming the parameters and a remedy.
    """
    n = len(names)
    ok = np.ones(n, bool)
    problems = []
    for i in np.flatnonzero(~(width_u < 1.0)):
        ok[i] = False
        problems.append(f"{names[i]} is not identifiable: its 95% interval is wider than its bounds; "
                        "fix it to a known value, add a prior (config 'priors'), or excite its effect more")
    for i in range(n):
        for j in range(i + 1, n):
            if abs(correlation[i, j]) > CORRELATION_LIMIT:
                ok[[i, j]] = False
                problems.append(f"{names[i]} and {names[j]} are {abs(correlation[i, j]):.0%} correlated: the data "
                                "cannot tell them apart; fix one of them, add a prior on one (config 'priors'), "
                                "or record motions that excite them differently")
    return ok, tuple(problems)
