"""Reading and writing a model folder: weights (npz) and a JSON description of the architecture,
plus a TorchScript export for other tools (actuator networks, residual ensembles).

Artifacts are data: sysid loads a built-in architecture by building it from the JSON and reading
its weights from the npz (numpy's format, read with `allow_pickle=False`; nothing in it runs).
The npz's sha256 is recorded in the JSON and checked on load. A TorchScript file runs code when
loaded, so sysid loads one only when the user says so (`trust_code=True`, `--trust-code`).
"""

from __future__ import annotations

import hashlib
import io as _io
import os
import pathlib
import warnings
import zipfile

import numpy as np
import torch

from sysid import io
from sysid.errors import UserError
from sysid.inputs import load_json

MAX_WEIGHTS_BYTES = 1 << 30  # 1 GiB: a description promising more than this is refused before reading


def read_description(folder: str | os.PathLike, meta_file: str, *, what: str, trained_by: str) -> tuple[dict, pathlib.Path]:
    """(description, its path) from `folder` (or the path of one of its files).

    Raises sysid's UserError naming the file when it is missing or is not a JSON object;
    `what` ("actuator network") and `trained_by` (the command that writes one) word the message.
    """
    folder = pathlib.Path(folder)
    if folder.suffix in (".pt", ".json", ".npz"):
        folder = folder.parent
    meta_path = folder / meta_file
    if not meta_path.is_file():
        raise UserError(f"{meta_path}: {what} file not found (train one with `{trained_by}`)")
    meta = load_json(meta_path, what=f"{what} description")
    if not isinstance(meta, dict):
        raise UserError(f"{meta_path}: not a {what} description (a JSON object)")
    return meta, meta_path


def weights_bytes(module: torch.nn.Module) -> bytes:
    """The module's state dict as npz bytes (float32 / int arrays by name)."""
    buffer = _io.BytesIO()
    np.savez(buffer, **{name: value.detach().cpu().numpy() for name, value in module.state_dict().items()})
    return buffer.getvalue()


def save_weights(path: pathlib.Path, module: torch.nn.Module) -> dict:
    """Write the module's weights to `path` (npz); returns {"file", "sha256"} for the description."""
    data = weights_bytes(module)
    io.write_bytes(path, data)
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest()}


def load_weights(module: torch.nn.Module, meta: dict, meta_path: pathlib.Path) -> torch.nn.Module:
    """Read the weights named in `meta["weights"]` into `module` (built from the description), in
    eval mode. The file must sit beside the description and match its sha256; every tensor of the
    module must be there with its shape. Raises UserError naming the file otherwise."""
    record = meta.get("weights")
    if not isinstance(record, dict) or not isinstance(record.get("file"), str) or not isinstance(record.get("sha256"), str):
        raise UserError(f"{meta_path}: no 'weights' record ({{file, sha256}}) in this description")
    path = meta_path.parent / record["file"]
    if pathlib.Path(record["file"]).name != record["file"] or not path.is_file():
        raise UserError(f"{meta_path}: weights file {record['file'][:80]!r} not found beside it")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise UserError(f"{path}: {path.stat().st_size} bytes, more than a sysid model's weights ({MAX_WEIGHTS_BYTES} at most)")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise UserError(f"{path}: does not match {meta_path.name} (sha256 differs: changed, or written by another run?)")
    try:
        with np.load(_io.BytesIO(data), allow_pickle=False) as npz:
            state = {name: torch.from_numpy(np.array(npz[name])) for name in npz.files}
        module.load_state_dict(state, strict=True)
    except (ValueError, RuntimeError, KeyError, OSError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: weights do not fit the architecture in {meta_path.name} ({str(error).splitlines()[0][:200]})") from None
    return module.eval()


def save_torchscript(path: pathlib.Path, module: torch.nn.Module, *, example: torch.Tensor | None = None,
                     extra: dict[str, str] | None = None) -> None:
    """Write the module as TorchScript (scripted, or traced on `example`): an export for other tools."""
    buffer = _io.BytesIO()
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x but still the exchange format
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(module.eval()) if example is None else torch.jit.trace(module.eval(), example)
        torch.jit.save(scripted, buffer, _extra_files=extra or {})
    io.write_bytes(path, buffer.getvalue())


def load_torchscript(path: pathlib.Path, *, trust_code: bool = False) -> torch.jit.ScriptModule:
    """A TorchScript module in eval mode, only with `trust_code` (loading one runs its code).

    Raises UserError naming the file without `trust_code`, or when torch cannot read it."""
    if not trust_code:
        raise UserError(f"{path}: a TorchScript file runs code when loaded; sysid loads one only with --trust-code "
                        "(trust_code=True) when you trust its source, or retrain to get weights (npz) and a JSON architecture")
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x but still the exchange format
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module = torch.jit.load(str(path))
        except (RuntimeError, ValueError) as error:
            raise UserError(f"{path}: not a TorchScript file torch can read ({str(error).splitlines()[0][:200]})") from None
    return module.eval()


def checked_ints(meta: dict, meta_path: pathlib.Path, names: tuple[str, ...], *, limit: int = 1 << 14) -> dict:
    """meta[name] for every name, each a positive int (or a list of them) at most `limit`; UserError otherwise."""
    out = {}
    for name in names:
        value = meta.get(name)
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= limit for v in items):
            raise UserError(f"{meta_path}: architecture field {name!r} must be a whole number (or a list of them) "
                            f"from 1 to {limit}, got {str(value)[:60]}")
        out[name] = value
    return out
