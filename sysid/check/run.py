"""`check_logs`: data quality + identifiability -> a `CheckReport` with verdicts, findings and remedies.

Also what `sysid check` does from file names (`check_files`) and the summary check at the start
of `sysid fit` (`fit_check`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import pathlib
import sys
import warnings
from collections.abc import Sequence
from typing import Literal

import mujoco
import numpy as np

from sysid.check.finding import Finding
from sysid.check.identify import Identifiability, identifiability
from sysid.check.quality import log_quality
from sysid.config import ConfigFile
from sysid.data import Log
from sysid.errors import UserError
from sysid.params import ParamSet
from sysid.uncertainty import CORRELATION_LIMIT
from sysid.version import __version__

CheckMode = Literal["strict", "summary", "off"]
OUTPUT_FILES = ("check.json", "std.png")


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What `sysid check` found.

    Attributes:
      passed: no error finding (a parameter not identifiable, an angle that wraps).
      params: name -> {"verdict", "predicted_std", "relative_std", "value", "lower", "upper", "share",
        "by_log", "remedies"}; empty when no parameters were given.
      findings: data-quality and identifiability findings, errors first.
      logs: per log: rows, duration, sample rate, jitter and per-signal noise, quantum and range.
      groups: parameters the logs cannot separate, with the combination they determine.
      excite: a one-line `sysid excite` command that plans an experiment for the weak parameters, or None.
      horizon: s, the fit window the information was computed for.
      correlation: {"names": [...], "matrix": (n, n)} predicted correlation of the fitted values, or {}.
    """

    passed: bool
    params: dict[str, dict]
    findings: tuple[Finding, ...]
    logs: tuple[dict, ...]
    groups: tuple[dict, ...] = ()
    excite: str | None = None
    horizon: float = 0.0
    correlation: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        """check.json's content."""
        return {"pass": self.passed, "params": self.params, "findings": [f.as_dict() for f in self.findings],
                "reasons": [f.message for f in self.findings if f.severity == "error"], "groups": list(self.groups),
                "correlation": self.correlation, "excite_command": self.excite, "horizon_s": self.horizon,
                "logs": list(self.logs), "version": __version__}


def check_logs(model: mujoco.MjModel, logs: Sequence[Log], params: ParamSet | None, *, horizon: float,
               prior: np.ndarray | None = None, model_path: str = "robot.xml", config_path: str | None = None,
               nthread: int | None = None) -> CheckReport:
    """Judge `logs` for fitting `params` of `model` (no fit).

    Args:
      params: the parameters to fit, at the values the information is computed at (their initial
        values); None checks the data quality only.
      horizon: s, the fit's window length.
      prior: optional (n, n) unit-box information of priors.
      model_path, config_path: written into the suggested `sysid excite` command.
    """
    from sysid.track import bind_log

    with warnings.catch_warnings():  # the fit warns about unlogged joints and actuators itself
        warnings.simplefilter("ignore")
        tracks = [bind_log(log, model) for log in logs]  # also checks every column names a model element
    delay = float(params.initial[params.delay_index]) if params is not None and params.delay_index is not None else 0.0
    summaries, findings = [], []
    for log in logs:
        summary, found = log_quality(log, model, params, delay=delay)
        summaries.append(summary)
        findings += found
    table: dict[str, dict] = {}
    groups: tuple[dict, ...] = ()
    excite, correlation = None, {}
    if params is not None and len(params):
        ident = identifiability(model, tracks, params, horizon=horizon, prior=prior, nthread=nthread)
        weak = [n for n, v in zip(ident.names, ident.verdict) if v != "identifiable"]
        if weak:
            duration = max(10.0, float(np.ceil(sum(log.duration for log in logs))))
            excite = (f"sysid excite --model {model_path} --params {','.join(weak)} --duration {duration:g}"
                      + (f" --config {config_path}" if config_path else "") + " --out excite/")
        remedies = {n: _remedies(n, ident, params, excite, findings) for n, v in zip(ident.names, ident.verdict) if v != "identifiable"}
        table = _param_table(ident, params, logs, remedies)
        findings += _identify_findings(ident, remedies, findings)
        groups = ident.groups
        correlation = {"names": list(ident.names), "matrix": ident.correlation.round(4).tolist()}
    order = {"error": 0, "warning": 1, "info": 2}
    findings = sorted(findings, key=lambda f: order[f.severity])
    return CheckReport(not any(f.severity == "error" for f in findings), table, tuple(findings), tuple(summaries), groups, excite,
                       horizon, correlation)


def _identify_findings(ident: Identifiability, remedies: dict[str, list[str]], data: list[Finding]) -> list[Finding]:
    """One finding per weak or unidentifiable parameter, per inseparable group and per pair of
    parameters correlated above CORRELATION_LIMIT, with remedies."""
    out = []
    for i, (name, verdict) in enumerate(zip(ident.names, ident.verdict)):
        if verdict == "identifiable":
            continue
        std, rel = ident.std[i], ident.relative_std[i]
        seen = "the logs cannot see it" if not np.isfinite(std) else f"predicted std {std:.3g} = {_percent(rel)} of {ident.scale[i]:.3g}"
        because = [f.kind.replace("_", " ") for f in data if name in f.params]
        out.append(Finding("not_identifiable" if verdict == "not identifiable" else "weak",
                           "error" if verdict == "not identifiable" else "warning",
                           f"{name} is {verdict}: {seen}" + (f" ({', '.join(dict.fromkeys(because))})" if because else ""),
                           "; ".join(remedies[name]), params=(name,)))
    def combo(weights: dict[str, float]) -> str:
        text = " ".join(f"{'-' if c < 0 else '+'} {abs(c):.2f} {n}/{ident.scale[ident.names.index(n)]:.3g}" for n, c in weights.items())
        return text[2:] if text.startswith("+ ") else "-" + text[2:]

    for g in ident.groups:
        out.append(Finding("trade_off", "warning", f"the logs cannot separate {', '.join(g['params'])}: the combination "
                           f"{combo(g['undetermined'])} has a predicted std of {_percent(g['undetermined_std'])}, while "
                           f"{combo(g['determined'])} has {_percent(g['determined_std'])}",
                           f"fix all but one of {', '.join(g['params'])} "
                           "(leave them out of --params) or add priors on them (config 'priors'), or record motions that "
                           "excite them differently", params=tuple(g["params"])))
    grouped = {frozenset(g["params"]) for g in ident.groups}
    n = len(ident.names)
    for i, j in zip(*np.triu_indices(n, 1)):
        c = ident.correlation[i, j]
        pair = (ident.names[i], ident.names[j])
        if abs(c) > CORRELATION_LIMIT and not any(set(pair) <= g for g in grouped):
            out.append(Finding("correlated", "warning", f"{pair[0]} and {pair[1]} are {abs(c):.1%} correlated: a fit moves "
                               "them together, so any model error shows up as a trade-off between them",
                               "fix or add a prior on one of them, or record motions that excite them differently", params=pair))
    for source in ident.diverged:
        out.append(Finding("diverged", "warning", f"{source}: a window diverges at the model's values; the information "
                           "there is left out", "check the model's values and the log's units", source))
    return out


def _remedies(name: str, ident: Identifiability, params: ParamSet, excite: str | None, data: list[Finding]) -> list[str]:
    """What to do for one weak or unidentifiable parameter, most specific first."""
    out = [f.remedy for f in data if name in f.params and f.remedy]
    for g in ident.groups:
        if name in g["params"]:
            others = [n for n in g["params"] if n != name]
            out.append(f"it trades off with {', '.join(others)}: fix one of them")
    value = float(params.initial[params.names.index(name)])
    out.append(f"fix it at a known value (leave it out of --params) or add a prior (config priors: {{{name}: "
               f"{{mean: {value:.3g}, std: <its uncertainty>}}}})")
    if excite:
        out.append(f"record a trajectory that excites it: {excite}")
    return list(dict.fromkeys(out))


def _param_table(ident: Identifiability, params: ParamSet, logs: Sequence[Log], remedies: dict[str, list[str]]) -> dict[str, dict]:
    table = {}
    for i, p in enumerate(params):
        table[p.name] = {
            "verdict": ident.verdict[i], "predicted_std": float(ident.std[i]), "relative_std": float(ident.relative_std[i]),
            "value": float(ident.values[i]), "lower": p.lower, "upper": p.upper, "share": float(ident.share[i]),
            "by_log": {log.source: float(s) for log, s in zip(logs, ident.by_log[i])}, "remedies": remedies.get(p.name, []),
        }
    return table


def format_report(report: CheckReport, *, brief: bool = False) -> str:
    """Readable lines: a verdict line, then (unless `brief`) a parameter table; then the findings
    (`brief`: errors only, and a count of the rest)."""
    verdicts = [p["verdict"] for p in report.params.values()]
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("error", "warning")}
    head = (f"check: {'pass' if report.passed else 'FAIL'}: " + (", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
            + "; " if verdicts else "") + f"{counts['error']} error(s), {counts['warning']} warning(s)")
    lines = [head]
    if not brief and report.params:
        lines.append(f"  {'parameter':<26}{'value':>10}{'pred. std':>11}{'std/value':>11}{'share':>8}  verdict")
        for name, p in report.params.items():
            lines.append(f"  {name:<26}{p['value']:>10.4g}{p['predicted_std']:>11.3g}{_percent(p['relative_std']):>11}"
                         f"{100 * p['share']:>7.1f}%  {p['verdict']}")
    shown = [f for f in report.findings if f.severity == "error" or (not brief and f.severity == "warning")]
    for f in shown:
        if brief:
            lines.append(f"check: {f.severity}: {f.message}")
        else:
            lines.append(f"  {f.severity}: {f.message}" + (f"\n    -> {f.remedy}" if f.remedy else ""))
    if brief and counts["warning"]:
        kinds = dict.fromkeys(f.kind.replace("_", " ") for f in report.findings if f.severity == "warning")
        lines.append(f"check: warnings: {', '.join(kinds)} (run sysid check for the details and remedies)")
    if report.excite and not brief:
        lines.append(f"  next experiment: {report.excite}")
    return "\n".join(lines)


def _percent(ratio: float) -> str:
    if not np.isfinite(ratio):
        return "inf"
    return ">1000%" if ratio >= 10 else f"{100 * ratio:.0f}%" if ratio >= 0.1 else f"{100 * ratio:.2g}%"


def prepare_params(model: mujoco.MjModel, logs: Sequence[Log], text: str, config: ConfigFile) -> tuple[ParamSet, np.ndarray | None, float]:
    """The ParamSet of `--params` as `sysid fit` starts it (config bounds; a fitted delay starts at
    the delay estimated from the logs unless the config sets it), the priors' unit-box information
    (or None) and the fit's last horizon in seconds."""
    from sysid.data.delay import actuated_joints, estimate_delay
    from sysid.excite.information import prior_information
    from sysid.fit import FitConfig
    from sysid.params import parse_params
    from sysid.priors import Priors

    params = parse_params(text, model, overrides=config.params)
    run = FitConfig(**config.run)
    user_delay = any(fnmatch.fnmatchcase("delay", k) and "initial" in v for k, v in config.params.items())
    if params.delay_index is not None and not user_delay:
        estimate = estimate_delay(logs, actuated_joints(model), timestep=model.opt.timestep)
        if estimate is not None and estimate.informative:
            p = params[params.delay_index]
            params = ParamSet([dataclasses.replace(q, initial=float(np.clip(estimate.delay, p.lower, p.upper))) if q is p else q
                               for q in params], model=model)
    priors = Priors.from_config(run.priors, params)
    prior = prior_information(params, params.initial, dict(zip([params.names[i] for i in priors.index], priors.std))) \
        if len(priors.index) else None
    return params, prior, run.horizons[-1]


def check_files(*, model_path: str, log_paths: Sequence[str], params: str | None, out: str, map_path: str | None = None,
                config_path: str | None = None, log_format: str | None = None, episode: int | None = None,
                nthread: int | None = None) -> CheckReport:
    """Everything `sysid check` does: load, check, write check.json, std.png and data_K.png (one per log) into `out`."""
    from sysid.check.figures import plot_data, plot_std
    from sysid.config import load_config
    from sysid.data import load_log
    from sysid.io import write_json
    from sysid.model import load_model

    names = [*OUTPUT_FILES, *(f"data_{k + 1}.png" for k in range(len(log_paths)))]
    outputs = {(pathlib.Path(out) / name).resolve() for name in names}
    for path in [model_path, *log_paths, *(p for p in (map_path, config_path) if p)]:
        if pathlib.Path(path).resolve() in outputs:
            raise UserError(f"--out {out}: writing there would overwrite the input file {path}")
    config = load_config(config_path)
    model = load_model(model_path)
    logs = [load_log(path, map_path=map_path, format=log_format, episode=episode) for path in log_paths]
    param_set, prior, horizon = prepare_params(model, logs, params, config) if params else (None, None, 1.0)
    report = check_logs(model, logs, param_set, horizon=horizon, prior=prior, model_path=model_path, config_path=config_path,
                        nthread=nthread)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "check.json"), {**report.as_dict(), "model": model_path, "log_files": list(log_paths),
                                                 "command": ["sysid", *sys.argv[1:]]})
    for k, log in enumerate(logs):
        plot_data(os.path.join(out, f"data_{k + 1}.png"), log, [f for f in report.findings if f.log == log.source])
    if param_set is not None:
        plot_std(os.path.join(out, "std.png"), report, param_set)
    return report


def fit_check(*, model: mujoco.MjModel, logs: Sequence[Log], params: str | None, config: ConfigFile, mode: CheckMode,
              model_path: str, config_path: str | None = None, actuator: str | None = None,
              nthread: int | None = None) -> CheckReport | None:
    """The check at the start of `sysid fit`: refuse a failing set in "strict" mode (UserError with
    one line), else return the report (`sysid fit` prints `format_report(report, brief=True)` and
    writes `as_dict()` into result.json's "check"); None when `mode` is "off". With `--actuator`
    models only the data quality is checked."""
    if mode == "off":
        return None
    if mode not in ("strict", "summary"):
        raise UserError(f"--check {mode!r}: choose strict, summary or off")
    use_params = params if params and not actuator else None
    param_set, prior, horizon = prepare_params(model, logs, use_params, config) if use_params else (None, None, 1.0)
    report = check_logs(model, logs, param_set, horizon=horizon, prior=prior, model_path=model_path, config_path=config_path,
                        nthread=nthread)
    if mode == "strict" and not report.passed:
        errors = [f.message for f in report.findings if f.severity == "error"]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"--check strict: the logs fail the check: {errors[0]}{more}; run sysid check for remedies, or --check summary")
    return report


__all__ = ["CheckMode", "CheckReport", "OUTPUT_FILES", "check_files", "check_logs", "fit_check", "format_report", "prepare_params"]
