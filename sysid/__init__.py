"""sysid: system identification and Real2Sim calibration of robots on MuJoCo.

    model = sysid.load_model("robot.xml")
    logs = [sysid.load_log("run.csv")]
    params = sysid.parse_params("friction,mass", model)
    result = sysid.fit(model, logs, params)
"""

from sysid.data import Log, load_log
from sysid.errors import UserError
from sysid.fit import FitConfig, FitResult, fit
from sysid.model import load_model
from sysid.params import Param, ParamSet, parse_params
from sysid.version import __version__

__all__ = [
    "FitConfig",
    "FitResult",
    "Log",
    "Param",
    "ParamSet",
    "UserError",
    "__version__",
    "fit",
    "load_log",
    "load_model",
    "parse_params",
]
