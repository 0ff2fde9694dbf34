"""Loading the user's MJCF model with a one-line error."""

from __future__ import annotations

import os

import mujoco

from sysid.errors import UserError
from sysid.specfield import remember_spec
from sysid.inputs import MAX_WHOLE_FILE_BYTES, check_file


def load_model(path: str | os.PathLike) -> mujoco.MjModel:
    """Compile an MJCF (or MJB) file; a missing or invalid file raises UserError naming it."""
    check_file(path, what="model file", max_bytes=MAX_WHOLE_FILE_BYTES)
    try:
        if str(path).endswith(".mjb"):
            return mujoco.MjModel.from_binary_path(str(path))
        model = mujoco.MjModel.from_xml_path(str(path))
        remember_spec(model, lambda: mujoco.MjSpec.from_file(str(path)))  # for spec: parameters
        return model
    except ValueError as error:
        message = " ".join(str(error).split())
        raise UserError(f"{path}: cannot load the model: {message}") from None
