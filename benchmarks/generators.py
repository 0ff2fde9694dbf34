"""The synthetic datasets' generators (`datasets/<name>/generate.py`) as modules, for the benchmarks."""

from __future__ import annotations

import importlib.util
import pathlib
import types

DATASETS = pathlib.Path(__file__).resolve().parents[1] / "datasets"


def load_generator(dataset: str) -> types.ModuleType:
    """datasets/<dataset>/generate.py, loaded as a module (the folder is no package)."""
    spec = importlib.util.spec_from_file_location(f"{dataset}_generate", DATASETS / dataset / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
