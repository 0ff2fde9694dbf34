"""Faults: an output folder holds the complete old set or the complete new one (kill -9 at random
times, disk full, read-only); SIGINT / SIGTERM mid-fit write the best result so far."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import make_log, write_csv

from sysid import io
from sysid.cli import main
from sysid.errors import UserError
from sysid.export import write_outputs
from sysid.fit import FitConfig, fit
from sysid.params import parse_params

CONFIG = FitConfig(horizons=(0.1,), optimizer="lsq", nthread=1, refine_states=False)


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _fit(model, log, params: str):
    return fit(model, [log], parse_params(params, model), CONFIG, progress=False)


def _write(model, model_path, result, out, command: str) -> None:
    write_outputs(out, model_path=str(model_path), model=model, log_paths=["run.csv"], result=result, config=CONFIG,
                  command=command)


def _complete_new(folder) -> bool:
    names = {p.name for p in folder.iterdir()}
    if names != {"calibrated.xml", "result.json", "fit.png", "convergence.png", "report.html", "report_data.json", "notes.txt"}:
        return False
    result = json.loads((folder / "result.json").read_text())
    pngs_whole = all((folder / n).read_bytes().endswith(b"IEND\xaeB`\x82") for n in ("fit.png", "convergence.png"))
    return result["command"] == "new" and "armature@hinge" in (folder / "calibrated.xml").read_text() and pngs_whole


def test_kill_9_at_random_times_leaves_each_folder_complete_old_or_complete_new(tmp_path, pendulum_path, pendulum, truth_model):
    log = make_log(truth_model, 0.3, seed=3)
    old = tmp_path / "old"
    _write(pendulum, pendulum_path, _fit(pendulum, log, "damping"), old, "old")
    (old / "notes.txt").write_text("the user's own file")  # not part of the set: kept
    old_digest = _digest(old)
    # The fit's result is computed once; the children write it (a kill before the write leaves the old set anyway).
    result = _fit(pendulum, log, "damping,armature")
    start = time.perf_counter()
    _write(pendulum, pendulum_path, result, tmp_path / "probe", "new")
    span = time.perf_counter() - start
    rng = random.Random(0)
    outcomes = []
    for i in range(20):
        folder = tmp_path / f"out{i}"
        shutil.copytree(old, folder)
        pid = os.fork()
        if pid == 0:  # the child writes the new set and is killed somewhere along the way
            try:
                _write(pendulum, pendulum_path, result, folder, "new")
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 1.3) * span)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        io._repair(folder)  # what the next write does first (a no-op after an atomic exchange)
        if _digest(folder) == old_digest:
            outcomes.append("old")
        else:
            assert _complete_new(folder), f"kill {i}: {sorted(p.name for p in folder.iterdir())} is neither set"
            outcomes.append("new")
    print(f"kill -9 outcomes: {outcomes.count('old')} old, {outcomes.count('new')} new; one write {span:.2f} s")
    assert len(outcomes) == 20
    # Staging folders of the killed writers are cleared by the next write beside them.
    _write(pendulum, pendulum_path, result, tmp_path / "out0", "new")
    assert not [p.name for p in tmp_path.iterdir() if ".sysid-" in p.name and p.name.startswith(".out0.")]


def test_a_write_error_mid_set_leaves_the_old_set_and_is_one_line(tmp_path, pendulum_path, pendulum, truth_model, monkeypatch, capsys):
    from sysid import report

    log = make_log(truth_model, 0.6, seed=3)
    path = write_csv(log, tmp_path / "run.csv")
    args = ["fit", "--model", str(pendulum_path), "--log", str(path), "--params", "damping", "--optimizer", "lsq", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    before = _digest(tmp_path / "out")

    def disk_full(*_, **__):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "fit.png")

    monkeypatch.setattr(report, "plot_fit", disk_full)
    assert main([*args, "--params", "damping,armature", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("sysid: warning")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "left as it was" in errors[0]
    assert _digest(tmp_path / "out") == before
    assert [p.name for p in tmp_path.iterdir() if ".sysid-" in p.name] == []


def test_an_unwritable_out_fails_before_any_work(tmp_path, pendulum_path, monkeypatch, capsys):
    import tempfile

    def denied(*_, **__):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    # The log does not exist: had the fit started, that would be the error.
    code = main(["fit", "--model", str(pendulum_path), "--log", "missing.csv", "--params", "damping", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "cannot write there (Permission denied)" in err and "missing.csv" not in err


def test_output_set_replaces_the_set_keeps_other_files_and_drops_stale_ones(tmp_path):
    out = tmp_path / "out"
    with io.output_set(out, names=("a.json", "b.png")) as stage:
        io.write_text(stage / "a.json", "1")
        io.write_text(stage / "b.png", "old figure")
    (out / "mine.txt").write_text("keep")
    inode = (out / "mine.txt").stat().st_ino
    with io.output_set(out, names=("a.json", "b.png")) as stage:
        io.write_text(stage / "a.json", "2")
    assert {p.name for p in out.iterdir()} == {"a.json", "mine.txt"}
    assert (out / "a.json").read_text() == "2" and (out / "mine.txt").stat().st_ino == inode  # swapped: linked over
    # A folder holding other folders (e.g. --out ~) is not swapped: the set's files are replaced in place.
    (out / "sub").mkdir()
    (out / "sub" / "x").write_text("keep too")
    folder_inode = out.stat().st_ino
    with io.output_set(out, names=("a.json", "b.png")) as stage:
        io.write_text(stage / "b.png", "new figure")
    assert {p.name for p in out.iterdir()} == {"b.png", "mine.txt", "sub"} and out.stat().st_ino == folder_inode
    assert (out / "b.png").read_text() == "new figure" and (out / "sub" / "x").read_text() == "keep too"
    (out / "sub" / "x").unlink()
    (out / "sub").rmdir()
    with io.output_set(out, names=("a.json", "b.png")) as stage:
        io.write_text(stage / "a.json", "2")
    with pytest.raises(RuntimeError), io.output_set(out, names=("a.json",)) as stage:
        io.write_text(stage / "a.json", "3")
        raise RuntimeError("interrupted")
    assert (out / "a.json").read_text() == "2" and len(list(tmp_path.iterdir())) == 1


def test_output_set_through_a_symbolic_link_replaces_the_folder_it_points_to(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.json").write_text("1")
    os.symlink(tmp_path / "real", tmp_path / "link")
    with io.output_set(tmp_path / "link", names=("a.json",)) as stage:
        io.write_text(stage / "a.json", "2")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link" / "a.json").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_output_set_in_the_working_folder_replaces_file_by_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.json").write_text("1")
    (tmp_path / "b.png").write_text("stale")
    with io.output_set(".", names=("a.json", "b.png")) as stage:
        io.write_text(stage / "a.json", "2")
    assert os.getcwd() == str(tmp_path) and (tmp_path / "a.json").read_text() == "2" and not (tmp_path / "b.png").exists()


def test_a_really_full_tmpfs_is_one_line_and_no_partial_set(tmp_path, pendulum_path, truth_model, capsys):
    mount = tmp_path / "small"
    mount.mkdir()
    # CI runs as root on Linux (as the sessions do): a refused mount is a failure, not a skip.
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(mount)], capture_output=True, text=True)
    assert mounted.returncode == 0, f"mounting a 40k tmpfs failed (needs root on Linux): {mounted.stderr.strip()}"
    try:
        path = write_csv(make_log(truth_model, 0.6, seed=3), tmp_path / "run.csv")
        code = main(["fit", "--model", str(pendulum_path), "--log", str(path), "--params", "damping", "--optimizer", "lsq",
                     "--quiet", "--out", str(mount / "out")])
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if not line.startswith("sysid: warning")]
        assert code == 2 and len(errors) == 1 and "No space left on device" in errors[0]
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_user_error_from_output_set_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_carry_over", lambda *a: (_ for _ in ()).throw(OSError(errno.EROFS, os.strerror(errno.EROFS))))
    with pytest.raises(UserError, match="out: cannot write the outputs .Read-only file system.; the folder was left as it was"):
        with io.output_set(tmp_path / "out", names=()) as stage:
            io.write_text(stage / "x", "1")


# --- signals -------------------------------------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sysid(args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "sysid_launch", *args], env=env, **kwargs)


def _run_until(args, marker: bytes, signum: int, *, timeout: float = 60.0) -> tuple[int, str]:
    """Run `sysid ARGS` with stderr on a terminal (so the progress bar shows), send `signum` once
    `marker` appears there, and return the exit code and everything it wrote to stderr."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # a 0-column terminal shows no bar
    proc = _sysid(args, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []

    def drain():  # keep reading, or the child blocks on a full terminal
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while marker not in b"".join(chunks) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, b"".join(chunks).decode(errors="replace")[-500:]
    os.kill(proc.pid, signum)
    code = proc.wait(timeout=timeout)
    reader.join(timeout=5)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace").replace("\r", "\n")


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_fit_writes_the_best_result_marked_interrupted(tmp_path, pendulum_path, truth_model, signum, code):
    path = write_csv(make_log(truth_model, 1.0, seed=3), tmp_path / "run.csv")
    (tmp_path / "slow.yaml").write_text("horizons: [0.2]\noptimizer: cmaes\nnthread: 1\nstarts: 100\n")  # minutes, unless stopped
    args = ["fit", "--model", str(pendulum_path), "--log", str(path), "--params", "damping,armature",
            "--config", str(tmp_path / "slow.yaml"), "--out", str(tmp_path / "out")]
    got, err = _run_until(args, b"best_loss=", signum)  # the progress bar shows a best loss once evaluations are done
    assert got == code, err[-2000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("sysid:") and not line.startswith("sysid: check:")]
    assert lines == [f"sysid: interrupted: wrote the best result so far to {tmp_path / 'out'} (result.json \"interrupted\": true)"]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["interrupted"] is True and result["evaluations"] > 0
    assert result["loss"]["final"] < result["loss"]["initial"]
    assert (tmp_path / "out" / "calibrated.xml").is_file()


def _importing(pid: int) -> bool:
    """True once the process has loaded a compiled module from site-packages (numpy, mujoco: sysid's
    imports have begun; before that Python itself is starting, which no program can make quiet)."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "site-packages" in f.read()
    except OSError:
        return False


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8])
def test_ctrl_c_during_start_up_exits_quietly(tmp_path, delay):
    proc = _sysid(["fit", "--model", "m.xml", "--log", "l.csv", "--params", "damping", "--out", str(tmp_path / "o")],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not _importing(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    text = err.decode()
    assert "Traceback" not in text, text
    # Stopped while starting (130, one line), or it got as far as the missing model (2, one line).
    assert (proc.returncode, text.strip()) == (130, "sysid: interrupted") or (proc.returncode == 2 and len(text.strip().splitlines()) == 1)
