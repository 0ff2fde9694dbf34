"""Many logs in one fit: `--episode all` / ranges of a LeRobot dataset, `--log` globs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import PENDULUM_XML, TRUTH, make_log, write_csv

from sysid.cli import main
from sysid.data.episodes import expand_logs, parse_episodes
from sysid.errors import UserError

EPISODES = 50
MAP = "state: [hinge.pos, hinge.vel]\naction: [motor.ctrl]\n"


def lerobot_episodes(root, truth_model, *, count: int = EPISODES, duration: float = 0.3, stride: int = 5):
    """A LeRobot v2 folder of `count` episodes of the true pendulum, each from rest under its own multisine, at 100 Hz."""
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v2.1", "fps": 100}))
    (root / "data" / "chunk-000").mkdir(parents=True)
    for e in range(count):
        rows = np.arange(0, int(round(duration / truth_model.opt.timestep)) + 1, stride)
        log = make_log(truth_model, duration, seed=e, rows=rows)
        state = np.stack([log.pos["hinge"], log.vel["hinge"]], axis=1)
        table = pa.table({
            "observation.state": pa.array(state.tolist(), pa.list_(pa.float64())),
            "action": pa.array(log.ctrl["motor"][:, None].tolist(), pa.list_(pa.float64())),
            "timestamp": pa.array(log.time, pa.float64()),
            "frame_index": pa.array(np.arange(len(rows)), pa.int64()),
            "episode_index": pa.array(np.full(len(rows), e), pa.int64()),
        })
        pq.write_table(table, root / "data" / "chunk-000" / f"episode_{e:06d}.parquet")
    return root


def test_episode_all_fits_fifty_episodes_as_fifty_logs(tmp_path, truth_model):
    root = lerobot_episodes(tmp_path / "ds", truth_model)
    (tmp_path / "pendulum.xml").write_text(PENDULUM_XML)
    (tmp_path / "map.yaml").write_text(MAP)
    (tmp_path / "fit.yaml").write_text("horizons: [0.1, 0.3]\noptimizer_options: {cmaes: {max_evaluations: 200}}\n")
    code = main(["fit", "--model", str(tmp_path / "pendulum.xml"), "--log", str(root), "--episode", "all", "--map",
                 str(tmp_path / "map.yaml"), "--params", "damping,armature,friction", "--config", str(tmp_path / "fit.yaml"),
                 "--threads", "2", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["logs"] == [f"{root}#episode {e}" for e in range(EPISODES)]
    for name, truth in TRUTH.items():
        assert result["params"][name]["value"] == pytest.approx(truth, rel=0.05), name


def test_episode_ranges_and_lists_select_those_episodes(tmp_path, truth_model):
    root = lerobot_episodes(tmp_path / "ds", truth_model, count=12, duration=0.02)
    chosen = expand_logs([str(root)], episodes=parse_episodes("0-3,7,9-10"))
    assert [k for _, _, k in chosen] == [0, 1, 2, 3, 7, 9, 10]
    assert chosen[0] == (f"{root}#episode 0", str(root), 0)
    assert expand_logs([str(root)], episodes=parse_episodes("5")) == [(str(root), str(root), 5)]
    assert len(expand_logs([str(root)], episodes="all")) == 12


def test_missing_episodes_are_named(tmp_path, truth_model):
    root = lerobot_episodes(tmp_path / "ds", truth_model, count=3, duration=0.02)
    with pytest.raises(UserError, match=r"ds: no episode 3-5; episodes: 0-2$"):
        expand_logs([str(root)], episodes=parse_episodes("1-5"))


@pytest.mark.parametrize("text", ["x", "3-1", "1-", "all,2"])
def test_episode_text_must_be_an_index_a_range_or_all(text):
    with pytest.raises(UserError, match=r"^--episode .*: expected an episode \(3\), a range \(0-49\), a list of them \(0-9,20\) or 'all'$"):
        parse_episodes(text)


def test_log_globs_expand_to_the_matching_files_sorted(tmp_path, truth_model):
    for k in (2, 0, 1):
        write_csv(make_log(truth_model, 0.02, seed=k), tmp_path / f"run{k}.csv")
    assert [name for name, _, _ in expand_logs([str(tmp_path / "run*.csv")])] == [str(tmp_path / f"run{k}.csv") for k in range(3)]
    with pytest.raises(UserError, match=r"^--log .*nothing\*\.csv: no file matches this pattern$"):
        expand_logs([str(tmp_path / "nothing*.csv")])
