"""Standard errors that admit model error: residuals correlated within windows of the logs.

The Jacobian (Gauss-Newton) covariance s^2 (A^T A)^-1 assumes independent residuals. A model error
(unmodelled friction, a wrong cable model) leaves residuals that persist for as long as the motion
that causes them, so the effective number of independent rows is far smaller. Both estimators
here treat contiguous windows of the logs (`FilterSpec.block_s`) as the independent units:

* `sandwich`: (A^T A)^-1 (sum_w g_w g_w^T) (A^T A)^-1 with g_w = A_w^T r_w the score of window w
  (cluster-robust covariance), times W / (W - 1) for W windows;
* `block_bootstrap`: the windows resampled with replacement and the least-squares solve repeated
  (Kunsch 1989), from each window's normal equations, so a resample costs one small solve.
"""

from __future__ import annotations

import numpy as np


def sandwich(A: np.ndarray, r: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """(q, q) cluster-robust covariance of a least-squares estimate.

    Args:
      A: (M, q) Jacobian of the residuals (noise-normalised rows); r: (M,) residuals at the optimum;
      blocks: (M,) window of each row; rows with a negative window (priors) stay out of the scores.
    """
    bread = np.linalg.pinv(A.T @ A)
    data = blocks >= 0
    ids, inverse = np.unique(blocks[data], return_inverse=True)
    scores = np.zeros((len(ids), A.shape[1]))
    np.add.at(scores, inverse, A[data] * r[data, None])
    meat = scores.T @ scores * len(ids) / max(len(ids) - 1, 1)
    return bread @ meat @ bread


def block_bootstrap(A: np.ndarray, b: np.ndarray, blocks: np.ndarray, *, resamples: int, seed: int) -> np.ndarray:
    """(q,) standard errors of argmin |A x - b| by a block bootstrap (NaN when `resamples` is 0).

    Args:
      A: (M, q) rows; b: (M,); blocks: (M,) window of each row.
    """
    q = A.shape[1]
    if resamples <= 0:
        return np.full(q, np.nan)
    ids, inverse = np.unique(blocks, return_inverse=True)
    normal = np.zeros((len(ids), q, q))
    rhs = np.zeros((len(ids), q))
    for w in range(len(ids)):
        rows = inverse == w
        normal[w] = A[rows].T @ A[rows]
        rhs[w] = A[rows].T @ b[rows]
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, q))
    for k in range(resamples):
        counts = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids)).astype(float)
        draws[k] = np.linalg.lstsq(np.tensordot(counts, normal, 1), counts @ rhs, rcond=None)[0]
    return draws.std(axis=0, ddof=1)
