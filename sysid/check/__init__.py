"""`sysid check`: judge logs before fitting: data quality, what they can identify, what to record instead.

`check_logs(model, logs, params, horizon=...)` -> `CheckReport` (pass / fail, a verdict and a predicted
standard error per parameter, findings with remedies); `check_files` is the command;
`fit_check` the summary check `sysid fit` runs first.
"""

from sysid.check.finding import Finding
from sysid.check.identify import Identifiability, identifiability
from sysid.check.quality import log_quality
from sysid.check.run import CheckMode, CheckReport, check_files, check_logs, fit_check, format_report, prepare_params

__all__ = [
    "CheckMode",
    "CheckReport",
    "Finding",
    "Identifiability",
    "check_files",
    "check_logs",
    "fit_check",
    "format_report",
    "identifiability",
    "log_quality",
    "prepare_params",
]
