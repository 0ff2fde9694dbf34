"""Excitation design: plan the experiment that makes the parameters identifiable (`sysid excite`)."""

from sysid.excite.actuation import Actuation
from sysid.excite.config import ExciteConfig
from sysid.excite.design import Design, Plan, Planner, design
from sysid.excite.families import FAMILIES, make_family, multisine_family
from sysid.excite.information import criterion, fisher, predicted_std, prior_information
from sysid.excite.limits import Limits
from sysid.excite.search import search

__all__ = [
    "FAMILIES",
    "Actuation",
    "Design",
    "ExciteConfig",
    "Limits",
    "Plan",
    "Planner",
    "criterion",
    "design",
    "fisher",
    "make_family",
    "multisine_family",
    "predicted_std",
    "prior_information",
    "search",
]
