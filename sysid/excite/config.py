"""`ExciteConfig`: every setting of an excitation design, validated once."""

from __future__ import annotations

import dataclasses
import math

from sysid.errors import UserError
from sysid.excite.families import FAMILIES, FamilyName
from sysid.excite.information import CRITERIA, Criterion


MAX_DURATION = 3600.0  # s, the longest experiment planned at once


@dataclasses.dataclass(frozen=True)
class ExciteConfig:
    """How `sysid excite` plans.

    Attributes:
      duration: s, length of the planned experiment.
      family: "fourier" (joint trajectories, Swevers), "multisine", "chirp" or "prbs" (commands).
      criterion: "d" (maximise log det of the Fisher information), "marginal" (minimise the mean
        log of the parameters' predicted variances, the diagonal of its inverse) or "cond"
        (minimise its condition number); see `sysid.excite.information.criterion`.
      lines: harmonics (Fourier) or frequency lines per joint (multisine).
      min_freq, max_freq: Hz, the band; min_freq defaults to 1 / duration.
      max_vel: rad/s (m/s), bound on every actuated joint's |velocity|.
      max_acc: rad/s^2 (m/s^2), bound on every actuated joint's |acceleration|.
      amplitude: rad (m), bound on every actuated joint's excursion from its start (qpos0).
      rate: Hz, command rows per second (default: one per model timestep).
      pos_noise, vel_noise: measurement noise standard deviations, rad (m) and rad/s (m/s).
      horizon: s, the window length of the fit that will use the data (its last stage).
      evaluations: candidate plans the search may score (one CMA-ES per joint, `sysid.excite.search`).
      popsize: candidates per generation (default 4 + 3 ln of the coefficients per joint, at least 8).
      sigma0: CMA-ES initial step in the unit box of the coefficients.
      search_windows: fit windows per candidate used during the search (None: all); the final
        plans always use all.
      seed: seeds the search.
      nthread: rollout threads (None: all usable cores).
    """

    duration: float
    family: FamilyName = "fourier"
    criterion: Criterion = "d"
    lines: int = 6
    min_freq: float | None = None
    max_freq: float = 2.0
    max_vel: float = math.inf
    max_acc: float = math.inf
    amplitude: float = math.inf
    rate: float | None = None
    pos_noise: float = 1e-3
    vel_noise: float = 1e-2
    horizon: float = 1.0
    evaluations: int = 200
    popsize: int | None = None
    sigma0: float = 0.25
    search_windows: int | None = 6
    seed: int = 0
    nthread: int | None = None

    def __post_init__(self):
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise UserError(f"--duration must be a positive number of seconds, got {self.duration:g}")
        if self.duration > MAX_DURATION:
            raise UserError(f"--duration {self.duration:g} s: at most {MAX_DURATION:g} s (an hour); plan several shorter experiments")
        if self.family not in FAMILIES:
            raise UserError(f"--family: unknown family {self.family!r}; choose one of {', '.join(FAMILIES)}")
        if self.criterion not in CRITERIA:
            raise UserError(f"--criterion: unknown criterion {self.criterion!r}; choose one of {', '.join(CRITERIA)}")
        if self.lines < 1:
            raise UserError(f"--lines must be at least 1, got {self.lines}")
        low = self.min_freq if self.min_freq is not None else 1.0 / self.duration
        if self.min_freq is None and not self.max_freq > low:
            raise UserError(f"--duration {self.duration:g} s is too short: its lowest frequency line, {low:g} Hz, is above --max-freq {self.max_freq:g} Hz")
        if not (low > 0 and self.max_freq > low):
            raise UserError(f"the band needs 0 < --min-freq < --max-freq, got [{low:g}, {self.max_freq:g}] Hz")
        for name in ("max_vel", "max_acc", "amplitude", "pos_noise", "vel_noise", "horizon"):
            if not getattr(self, name) > 0:
                raise UserError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name):g}")
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise UserError(f"--rate must be a positive number of Hz, got {self.rate:g}")
        if self.rate is not None and self.rate * self.duration > 1e7:
            raise UserError(f"--rate {self.rate:g} Hz over {self.duration:g} s is more than 1e7 command rows; lower the rate")
        if self.evaluations < 0:
            raise UserError(f"--evaluations must be >= 0, got {self.evaluations}")
