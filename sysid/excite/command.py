"""Everything `sysid excite` does, from file names to written outputs.

Writes into the output folder: `plan.csv` (the commands to play, with the predicted motion),
`baseline.csv` (a Schroeder multisine of equal length under the same limits), `plan.png` and
`excite.json` (predicted standard errors of every parameter for both, the limits, the settings).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from sysid.config import load_config
from sysid.errors import UserError
from sysid.excite.config import ExciteConfig
from sysid.excite.design import design
from sysid.excite.information import predicted_std, prior_information
from sysid.excite.output import format_table, plan_frame, plot_plan, summary, write_csv
from sysid.fit import FitConfig
from sysid.io import output_set, write_json
from sysid.model import load_model
from sysid.params import ParamSet, parse_params
from sysid.version import __version__

OUTPUT_FILES = ("plan.csv", "baseline.csv", "plan.png", "excite.json")


def excite_files(*, model_path: str, params: str, out: str, config: ExciteConfig, config_path: str | None = None,
                 prior_path: str | None = None, progress: bool = True) -> dict:
    """Plan an experiment for the model in `model_path` around its current values and write the
    outputs into `out`; returns excite.json's dict.

    Args:
      params: the `--params` text, e.g. "damping,frictionloss,armature,kp".
      config: the design settings; its `horizon` is replaced by the last horizon of the fit
        config file when one is given.
      config_path: optional fit YAML (the one `sysid fit --config` takes): parameter bounds and horizons.
      prior_path: optional result.json of an earlier fit: its standard errors count as
        information already gathered (sequential design).
    """
    config_file = load_config(config_path)
    if config_path is not None and "horizons" in config_file.run:
        config = dataclasses.replace(config, horizon=FitConfig(**config_file.run).horizons[-1])
    model = load_model(model_path)
    param_set = parse_params(params, model, overrides=config_file.params)
    outputs = {(pathlib.Path(out) / name).resolve() for name in OUTPUT_FILES}
    for path in [model_path, *(p for p in (config_path, prior_path) if p)]:
        if pathlib.Path(path).resolve() in outputs:
            raise UserError(f"--out {out}: writing there would overwrite the input file {path}")
    prior = _read_prior(prior_path, param_set) if prior_path else None

    bar = tqdm(total=config.evaluations, disable=None if progress else True, unit="plan", dynamic_ncols=True, leave=False)
    on_generation: Callable[[int, float], None] = lambda count, best: (bar.update(count - bar.n), bar.set_postfix(best=f"{best:.4g}"))  # noqa: E731
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            result = design(model, param_set, config, prior=prior, on_generation=on_generation)
    finally:
        bar.close()

    combined = predicted_std(param_set, result.values, result.plan.info + prior) if prior is not None else None
    extra = {"model": str(model_path), "prior": prior_path, "version": __version__, "command": ["sysid", *sys.argv[1:]]}
    content = summary(result, combined_std=combined, extra=extra)
    with output_set(out, names=OUTPUT_FILES) as stage:  # the folder holds the old set or the new one
        write_csv(stage / "plan.csv", plan_frame(result, result.plan))
        write_csv(stage / "baseline.csv", plan_frame(result, result.baseline))
        plot_plan(stage / "plan.png", result)
        write_json(stage / "excite.json", content)
    return content


def _read_prior(path: str, params: ParamSet) -> np.ndarray:
    """Unit-box information of an earlier fit's standard errors (result.json at `path`)."""
    try:
        entries = json.loads(pathlib.Path(path).read_text())["params"]
        std = {name: float(e["std"]) for name, e in entries.items() if e.get("std") is not None}
    except FileNotFoundError:
        raise UserError(f"--prior {path}: file not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"--prior {path}: not a sysid result.json ({type(error).__name__}: {error})") from None
    if not any(name in std for name in params.names):
        raise UserError(f"--prior {path}: none of {params.names} has a standard error there")
    return prior_information(params, params.initial, std)


__all__ = ["OUTPUT_FILES", "excite_files", "format_table"]
