import numpy as np
import pytest

from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import StackingMetaLearner, TrafficModel, blocked_folds
from traffic_ai.training import TrainConfig, prepare_dataset


def test_blocked_folds_purge_every_overlapping_window() -> None:
    origins = np.arange(24, 500)
    gap = 24
    for train, held_out in blocked_folds(origins, 3, gap):
        # no training window [t-12, t+12) shares an interval with a held-out window
        assert np.min(np.abs(train[:, None] - held_out[None, :])) > gap
    assert np.array_equal(
        np.sort(np.concatenate([h for _, h in blocked_folds(origins, 3, gap)])), origins
    )
    with pytest.raises(ValueError, match="folds"):
        blocked_folds(origins, 1, gap)


def test_stacking_combines_noisy_members_better_than_the_best() -> None:
    # known structure: truth ~ N(0, 1), member i = truth + noise of std sigma_i (one also
    # biased); the best linear combination is the posterior mean, weights proportional to
    # 1/sigma_i^2, error variance 1 / (1 + sum(1/sigma_i^2))
    rng = np.random.default_rng(1)
    sigmas = np.array([1.0, 1.5, 2.0])
    shape = (4000, 2, 3, 1)
    truth = rng.normal(size=shape)
    members = truth + sigmas[:, None, None, None, None] * rng.normal(size=(3, *shape))
    members[2] += 0.5
    fit, test = slice(0, 2000), slice(2000, None)
    meta = StackingMetaLearner().fit(members[:, fit], truth[fit])
    combined = meta.predict(members[:, test])
    best = ((members[0, test] - truth[test]) ** 2).mean()
    mse = ((combined - truth[test]) ** 2).mean()
    optimal = 1.0 / (1.0 + np.sum(1.0 / sigmas**2))
    assert mse < best
    # 3 sd of the mean of squared normals with variance `optimal` (n = 24000)
    assert mse == pytest.approx(optimal, abs=3 * optimal * np.sqrt(2 / truth[test].size) + 0.01)
    weights = meta.weights_[0, 0]
    np.testing.assert_allclose(
        weights / weights.sum(), (1 / sigmas**2) / np.sum(1 / sigmas**2), atol=0.05
    )
    assert meta.intercept_[0, 0] == pytest.approx(-0.5 * weights[2], abs=0.05)


def test_stacking_never_worse_than_its_best_member_out_of_fold() -> None:
    ring = np.roll(np.eye(5), 1, axis=1)
    segments = tuple(f"s{i}" for i in range(5))
    dataset = MacroDataset.from_frame(synthetic_table(segments, ring, days=2), adjacency=ring)
    config = TrainConfig(epochs=1, hidden=4, origin_stride=4, device="cpu")
    model = TrafficModel.fit(dataset, config)
    train, _ = dataset.split(config.test_share)
    origins = dataset.window_starts(train, config.history, config.horizon)
    prepared = prepare_dataset(dataset, model.scaler, config)
    # re-create the out-of-fold forecasts from the stored fold models
    oof = np.zeros((len(model.stacked_names), len(origins), 12, 5, 3))
    position = {int(o): i for i, o in enumerate(origins)}
    for fold, (_, held_out) in enumerate(blocked_folds(origins, config.folds, 24)):
        rows = [position[int(o)] for o in held_out]
        for m, name in enumerate(model.stacked_names):
            oof[m, rows] = model.members[name][fold].predict(prepared, held_out)
    target = prepared.window_targets(origins)
    stacked = model.meta.predict(oof)
    for h in range(12):
        for c in range(3):
            err = ((stacked[:, h, :, c] - target[:, h, :, c]) ** 2).mean()
            best = min(
                ((oof[m][:, h, :, c] - target[:, h, :, c]) ** 2).mean() for m in range(len(oof))
            )
            assert err <= best + 1e-9
