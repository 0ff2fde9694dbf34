"""Reading a model folder: a TorchScript file beside its JSON description (actuator networks,
residual ensembles)."""

from __future__ import annotations

import json
import os
import pathlib
import warnings

import torch

from sysid.errors import UserError


def read_description(folder: str | os.PathLike, net_file: str, meta_file: str, *, what: str,
                     trained_by: str) -> tuple[dict, pathlib.Path, pathlib.Path]:
    """(description, its path, the TorchScript file's path) from `folder` (or one of its two files).

    Raises sysid's UserError naming the file when one is missing or the JSON does not parse;
    `what` ("actuator network") and `trained_by` (the command that writes one) word the message.
    """
    folder = pathlib.Path(folder)
    if folder.suffix in (".pt", ".json"):
        folder = folder.parent
    meta_path, net_path = folder / meta_file, folder / net_file
    for path in (meta_path, net_path):
        if not path.is_file():
            raise UserError(f"{path}: {what} file not found (train one with `{trained_by}`)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{meta_path}: not valid JSON: {error}") from None
    return meta, meta_path, net_path


def load_torchscript(path: pathlib.Path) -> torch.jit.ScriptModule:
    """A TorchScript module in eval mode; UserError naming the file when torch cannot read it."""
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x but still the exchange format
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module = torch.jit.load(str(path))
        except RuntimeError as error:
            raise UserError(f"{path}: not a TorchScript file torch can read ({str(error).splitlines()[0]})") from None
    return module.eval()
