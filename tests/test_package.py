"""The package as a user gets it: a wheel installed in a fresh venv outside the repository runs
`sysid demo`, whose report.html opens in headless Chromium with no request, no console error and
every section; a missing optional dependency is one line naming its extra."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

from browser import inspect_page
from sysid.htmlreport import SECTIONS

REPO = pathlib.Path(__file__).resolve().parents[1]
HIDE_TORCH = "SYSID_TEST_HIDE_TORCH"


HIDE_TORCH_MODULE = f"""import os, sys


class HideTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


if os.environ.get("{HIDE_TORCH}"):
    sys.meta_path.insert(0, HideTorch())
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A venv with the built wheel of this checkout (no downloads: --no-index, --no-deps; the other
    dependencies come from the test venv's site-packages through a .pth file)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("sysid", "sysid_launch", "actuator_models"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp / "dist"), str(src)], check=True, cwd=tmp)
    wheel = next((tmp / "dist").glob("sysid-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    parent = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (pathlib.Path(site) / "_test_parent_site.pth").write_text("\n".join(parent) + "\n")
    # A switch to run a command as if torch were not installed: a finder that refuses to import it.
    (pathlib.Path(site) / "_test_hide_torch.py").write_text(HIDE_TORCH_MODULE)
    (pathlib.Path(site) / "_test_hide_torch.pth").write_text("import _test_hide_torch\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {"venv": venv, "env": env, "tmp": tmp, "site": pathlib.Path(site)}


def _run(installed: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([installed["venv"] / "bin" / "sysid", *args], cwd=installed["tmp"], capture_output=True,
                          text=True, env={**installed["env"], **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def demo(installed) -> pathlib.Path:
    out = installed["tmp"] / "demo_out"
    proc = _run(installed, "demo", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    worst = re.search(r"worst error vs truth: ([0-9.]+)%", proc.stdout)
    assert worst is not None, proc.stdout
    assert float(worst.group(1)) < 5.0, proc.stdout
    return out


def test_the_wheel_is_what_runs(installed):
    found = subprocess.run([installed["venv"] / "bin" / "python", "-c", "import sysid; print(sysid.__file__)"],
                           capture_output=True, text=True, env=installed["env"], cwd=installed["tmp"], check=True)
    assert pathlib.Path(found.stdout.strip()).is_relative_to(installed["site"])
    for name in ("arm2.xml", "run1.csv", "run2.csv", "truth.json"):
        assert (installed["site"] / "sysid" / "demo" / name).is_file()


def test_demo_data_in_the_package_is_the_dataset():
    for name in ("arm2.xml", "run1.csv", "run2.csv", "truth.json"):
        assert (REPO / "sysid" / "demo" / name).read_bytes() == (REPO / "datasets" / "arm2" / name).read_bytes(), name


def test_missing_torch_is_one_line_naming_the_extra(installed, tmp_path):
    proc = _run(installed, "actuator", "train", "--log", "run.csv", "--joint", "knee", "--out", str(tmp_path / "net"),
                env={HIDE_TORCH: "1"})
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert 'pip install "sysid[torch]"' in proc.stderr


def test_demo_report_in_a_browser(installed, demo, tmp_path):
    page = demo / "report.html"
    assert (demo / "report_data.json").is_file()
    expression = """JSON.stringify({
      sections: [...document.querySelectorAll('section')].map(s => [s.id, s.innerText.length]),
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      images: [...document.images].map(i => i.naturalWidth),
      verdict: document.getElementById('verdict').innerText,
      next: document.querySelectorAll('#next li').length})"""
    shot = tmp_path / "report.png"
    result = inspect_page(page, expression=expression, screenshot=shot)
    value = json.loads(result["value"])
    outside = [u for u in result["requests"] if not u.startswith("data:") and u != page.resolve().as_uri()]
    assert outside == []
    assert result["errors"] == []
    assert [s for s, _ in value["sections"]] == list(SECTIONS)
    assert all(n > 20 for _, n in value["sections"])
    assert value["overflow"] <= 0
    assert len(value["images"]) >= 5 and min(value["images"]) > 100  # correlation, 2 logs, residuals, convergence
    assert value["verdict"].split(":")[0] in ("good", "check")
    assert value["next"] >= 1
    assert shot.stat().st_size > 10_000


def test_report_command_adds_predictions(installed, demo, tmp_path):
    run2 = installed["site"] / "sysid" / "demo" / "run2.csv"
    out = tmp_path / "full.html"
    proc = _run(installed, "report", str(demo), "--log", str(run2), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "run2.csv (a log the fit used), open loop" in text
    assert text.count("<img") >= 6
