"""The user guide builds in MkDocs strict mode (offline), its CLI reference covers every command, and
the README stays a front door."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from sysid.cli import _parser

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_docs_build_strict_with_generated_cli_and_api_reference(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    commands = next(a for a in _parser()._actions if a.dest == "command").choices
    for name in commands:
        assert f"sysid {name}</code>" in cli, name
    for option in ("--shrink", "--structures", "--cv", "--eval"):
        assert option in cli
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "write_report" in api
    assert not (tmp_path / "site" / "hooks").exists()


def test_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    head = "\n".join(lines[:8])
    assert "make demo" in head and "make test" in head
    assert "benchmarks/README.md" in "\n".join(lines)
