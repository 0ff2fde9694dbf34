"""Tests for sysid.io: atomic writers."""

import json
import os

import numpy as np
import pytest

from sysid import io


def test_write_text_replaces_content_and_creates_parents(tmp_path):
    path = tmp_path / "a" / "b" / "note.txt"
    io.write_text(path, "first")
    io.write_text(path, "second")
    assert path.read_text() == "second"
    assert os.listdir(path.parent) == ["note.txt"]


def test_write_json_converts_numpy_and_keeps_order(tmp_path):
    path = tmp_path / "result.json"
    obj = {
        "z": np.float32(0.5),
        "a": np.int64(3),
        "arr": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "flag": np.bool_(True),
        "t": (1, 2),
    }
    io.write_json(path, obj)
    text = path.read_text()
    assert text.endswith("\n")
    assert '\n  "z": 0.5' in text  # indent 2
    loaded = json.loads(text)
    assert list(loaded) == ["z", "a", "arr", "flag", "t"]
    assert loaded == {"z": 0.5, "a": 3, "arr": [[1.0, 2.0], [3.0, 4.0]], "flag": True, "t": [1, 2]}
    assert type(loaded["a"]) is int


def test_write_json_nan_and_inf_become_null(tmp_path):
    path = tmp_path / "r.json"
    io.write_json(path, {"nan": float("nan"), "inf": np.float64(np.inf), "arr": np.array([1.0, -np.inf, np.nan])})
    loaded = json.loads(path.read_text())
    assert loaded == {"nan": None, "inf": None, "arr": [1.0, None, None]}
    assert "NaN" not in path.read_text()


def test_write_json_rejects_unknown_type_and_keeps_old_file(tmp_path):
    path = tmp_path / "r.json"
    io.write_json(path, {"v": 1})
    with pytest.raises(TypeError, match="object"):
        io.write_json(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["r.json"]


def test_interrupted_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    io.write_bytes(path, b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        io.write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_write_bytes_keeps_mode_of_existing_file(tmp_path):
    path = tmp_path / "x.bin"
    io.write_bytes(path, b"1")
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o600)
    io.write_bytes(path, b"2")
    assert path.read_bytes() == b"2"
    assert path.stat().st_mode & 0o777 == 0o600


def test_save_figure_writes_png(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [0, 1])
    path = io.save_figure(fig, tmp_path / "figs" / "f.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(path.parent) == ["f.png"]
