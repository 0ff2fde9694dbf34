"""Standard errors, 95% intervals and correlations from the Jacobian at the optimum."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats

from sysid.params import ParamSet


@dataclasses.dataclass(frozen=True)
class Uncertainty:
    """Linearised uncertainty of fitted values (Gauss-Newton covariance).

    Attributes:
      std: (n,) standard errors in each parameter's unit (inf where not identifiable).
      ci95: (n, 2) 95% intervals (value -+ t * std in the search transform, mapped back).
      correlation: (n, n) correlation matrix of the estimates.
      residual_scale: sqrt(sum r^2 / (m - dim)): about 1 when the noise levels are right.
    """

    std: np.ndarray
    ci95: np.ndarray
    correlation: np.ndarray
    residual_scale: float


def uncertainty(params: ParamSet, values: np.ndarray, jacobian: np.ndarray, residuals: np.ndarray, n_extra: int = 0) -> Uncertainty:
    """Covariance of the parameters from J (m, n + n_extra) at the optimum.

    The residuals are already divided by each signal's noise level; the covariance
    s^2 (J^T J)^-1 is scaled by the residual variance s^2 so that a wrong noise estimate
    does not make the intervals over- or under-confident. The n_extra trailing columns
    (window start states) are nuisance variables: their uncertainty is marginalised out.
    """
    n = len(params)
    m, dim = jacobian.shape
    dof = max(m - dim, 1)
    scale2 = float(residuals @ residuals) / dof
    # Pseudo-inverse through the SVD: a direction the data cannot see gives an infinite
    # variance to the parameters it involves, not a crash or a silently small number.
    _, sv, vt = np.linalg.svd(jacobian, full_matrices=False)
    seen = sv > sv[0] * 1e-10
    v = vt[seen, :n]
    cov_u = (v.T / sv[seen] ** 2) @ v * scale2
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
    return Uncertainty(std=std, ci95=np.stack([lo, hi], axis=1), correlation=corr, residual_scale=float(np.sqrt(scale2)))
