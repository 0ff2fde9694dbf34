"""sysid.heldout: folds for --cv."""

import numpy as np

from sysid.data import Log
from sysid.heldout import make_folds


def test_time_folds_of_one_log_cover_it_and_hold_out_each_block():
    t = np.linspace(0.0, 3.9, 40)
    log = Log("run.csv", t, {"j": np.sin(t)}, ctrl={"a": np.cos(t)})
    folds = make_folds([log], ["run.csv"], 2)
    assert [f.split for f in folds] == ["time", "time"]
    # Fold 1 holds out the first half and fits on the second; fold 2 the other way round.
    assert folds[0].held[0].time[0] == 0.0 and folds[0].train[0].time[-1] == 3.9
    assert folds[1].held[0].time[-1] == 3.9 and folds[1].train[0].time[0] == 0.0
    assert [len(f.train) for f in folds] == [1, 1]
    for fold in folds:
        held, train = fold.held[0], fold.train[0]
        assert len(held.time) + len(train.time) == len(t) + 1  # the boundary row is shared
    folds = make_folds([log], ["run.csv"], 3)  # the middle fold fits on both ends
    assert [len(f.train) for f in folds] == [1, 2, 1]
