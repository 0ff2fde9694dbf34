"""Artifacts are data: fit folders and bundles name only files inside themselves, bundles are
verified against their manifest, and TorchScript is loaded only with --trust-code."""

from __future__ import annotations

import json
import os

import pytest
from test_bundle import write_calib

from sysid.bundle import load_bundle
from sysid.cli import main
from sysid.errors import UserError


def _export(calib, out, capsys) -> tuple[int, str]:
    code = main(["export", str(calib), "--out", str(out)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", ["../secret.txt", "/etc/hostname", "sub/../../secret.txt"])
def test_export_refuses_an_actuator_path_outside_the_fit_folder(tmp_path, capsys, name):
    (tmp_path / "secret.txt").write_text("private")
    calib = write_calib(tmp_path / "calib")
    result = json.loads((calib / "result.json").read_text())
    (calib / "result.json").write_text(json.dumps({**result, "actuator_models": [name]}))
    code, err = _export(calib, tmp_path / "b", capsys)
    assert code == 2 and "lies outside" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b" / "actuator_models").exists()


def test_export_refuses_a_symbolic_link_out_of_the_fit_folder(tmp_path, capsys):
    (tmp_path / "secret.txt").write_text("private")
    calib = write_calib(tmp_path / "calib")
    os.symlink(tmp_path / "secret.txt", calib / "net.pt")
    result = json.loads((calib / "result.json").read_text())
    (calib / "result.json").write_text(json.dumps({**result, "actuator_models": ["net.pt"]}))
    code, err = _export(calib, tmp_path / "b", capsys)
    assert code == 2 and "'net.pt' lies outside" in err
    # The fit folder's own files too: a calibrated.xml that links elsewhere is refused.
    calib2 = write_calib(tmp_path / "calib2")
    (tmp_path / "other.xml").write_text((calib2 / "calibrated.xml").read_text())
    (calib2 / "calibrated.xml").unlink()
    os.symlink(tmp_path / "other.xml", calib2 / "calibrated.xml")
    code, err = _export(calib2, tmp_path / "b2", capsys)
    assert code == 2 and "'calibrated.xml' lies outside" in err


@pytest.fixture
def bundle(tmp_path):
    calib = write_calib(tmp_path / "calib")
    (calib / "knee.json").write_text('{"w": 1}')
    result = json.loads((calib / "result.json").read_text())
    (calib / "result.json").write_text(json.dumps({**result, "actuator_models": ["knee.json"]}))
    assert main(["export", str(calib), "--out", str(tmp_path / "bundle")]) == 0
    return tmp_path / "bundle"


@pytest.mark.parametrize("name", ["calibrated.xml", "randomization.yaml", "actuator_models/knee.json"])
def test_a_changed_bundle_file_is_refused(bundle, name):
    with pytest.warns(UserWarning, match="actuator models"):
        load_bundle(bundle)  # untouched: loads
    path = bundle / name
    path.write_bytes(path.read_bytes() + b" ")  # still valid XML, YAML, JSON
    with pytest.raises(UserError, match=f"{name}: sha256 differs from manifest.json"):
        load_bundle(bundle)


def test_a_tampered_manifest_is_refused(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["calibrated.xml"]["sha256"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="calibrated.xml: sha256 differs from manifest.json"):
        load_bundle(bundle)
    manifest["files"] = {"../x": {"sha256": "0" * 64}}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="'../x' lies outside"):
        load_bundle(bundle)
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="manifest.json: not valid JSON"):
        load_bundle(bundle)


def test_a_bundle_model_outside_the_folder_is_refused(bundle, tmp_path):
    text = (bundle / "randomization.yaml").read_text()
    (bundle / "manifest.json").unlink()  # a hand-made bundle: no manifest to check against
    (bundle / "randomization.yaml").write_text(text.replace("model: calibrated.xml", f"model: {tmp_path / 'calib' / 'calibrated.xml'}"))
    assert str(tmp_path) in (bundle / "randomization.yaml").read_text()
    with pytest.raises(UserError, match="lies outside"):
        load_bundle(bundle)
