import numpy as np
import pytest

from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import COMBINATION, StackingMetaLearner, TrafficModel, blocked_folds
from traffic_ai.training import BackboneMember, TrainConfig, prepare_dataset


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


def test_guarded_fit_keeps_a_combination_that_transfers_across_blocks() -> None:
    rng = np.random.default_rng(2)
    sigmas = np.array([1.0, 1.5])
    truth = rng.normal(size=(2000, 2, 3, 1))
    members = truth + sigmas[:, None, None, None, None] * rng.normal(size=(2, *truth.shape))
    blocks = [np.arange(0, 1000), np.arange(1000, 2000)]
    meta = StackingMetaLearner().fit_guarded(members, truth, blocks)
    assert (meta.selected_ == COMBINATION).all()
    # the cross-fitted combination beats the better member (MAE of N(0, s^2) is s*sqrt(2/pi))
    assert (meta.oof_mae_[-1] < meta.oof_mae_[0]).all()
    assert meta.oof_mae_[0, 0, 0] == pytest.approx(np.sqrt(2 / np.pi), rel=0.05)
    np.testing.assert_allclose(meta.weights_, StackingMetaLearner().fit(members, truth).weights_)


def test_guarded_fit_falls_back_to_the_best_member_where_the_combination_fails() -> None:
    # member 1 is exact in the first block and off by 5 in the second: fitted on one block,
    # the combination trusts the wrong member on the other, so member 0 alone (noise 0.3,
    # MAE 0.3*sqrt(2/pi) = 0.24 < about 2.5) must be chosen, with weight 1 and no intercept
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(2000, 1, 2, 1))
    members = np.stack([truth + 0.3 * rng.normal(size=truth.shape), truth.copy()])
    members[1, 1000:] += 5.0
    blocks = [np.arange(0, 1000), np.arange(1000, 2000)]
    meta = StackingMetaLearner().fit_guarded(members, truth, blocks)
    assert (meta.selected_ == 0).all()
    np.testing.assert_array_equal(meta.weights_[..., 0], 1.0)
    np.testing.assert_array_equal(meta.weights_[..., 1], 0.0)
    np.testing.assert_array_equal(meta.intercept_, 0.0)
    np.testing.assert_allclose(meta.predict(members), members[0])
    assert meta.oof_mae_[-1, 0, 0] == meta.oof_mae_[0, 0, 0]
    assert meta.oof_mae_[0, 0, 0] == pytest.approx(0.3 * np.sqrt(2 / np.pi), rel=0.1)
    with pytest.raises(ValueError, match="at least 2 blocks"):
        StackingMetaLearner().fit_guarded(members, truth, blocks[:1])


def test_members_are_refit_on_all_training_windows_and_meta_fits_out_of_fold() -> None:
    ring = np.roll(np.eye(5), 1, axis=1)
    segments = tuple(f"s{i}" for i in range(5))
    dataset = MacroDataset.from_frame(synthetic_table(segments, ring, days=2), adjacency=ring)
    config = TrainConfig(epochs=1, hidden=4, origin_stride=4, device="cpu")
    model = TrafficModel.fit(dataset, config)
    train, _ = dataset.split(config.test_share)
    origins = dataset.window_starts(train, config.history, config.horizon)
    prepared = prepare_dataset(dataset, model.scaler, config)
    # one final model per member, identical to a fresh one fitted on every training window
    assert list(model.members) == model.member_names
    for name, member in model.members.items():
        fresh = model.new_member(name).fit(prepared, origins)
        np.testing.assert_allclose(
            member.predict(prepared, origins), fresh.predict(prepared, origins), rtol=1e-6
        )
        if isinstance(member, BackboneMember):  # and different from a fold model
            fold = model.new_member(name).fit(prepared, origins[: len(origins) // 2])
            assert not np.allclose(
                member.predict(prepared, origins), fold.predict(prepared, origins)
            )
    # the meta-learner was fitted on the out-of-fold forecasts: on them (in sample) it is
    # never worse than its best member, per horizon step and channel
    oof, blocks = model.out_of_fold(prepared, origins, model.stacked_names)
    oof = oof.astype(np.float64)
    assert sorted(np.concatenate(blocks).tolist()) == list(range(len(origins)))
    target = prepared.window_targets(origins).astype(np.float64)
    stacked = model.meta.predict(oof)
    for h in range(12):
        for c in range(3):
            err = ((stacked[:, h, :, c] - target[:, h, :, c]) ** 2).mean()
            best = min(
                ((oof[m][:, h, :, c] - target[:, h, :, c]) ** 2).mean() for m in range(len(oof))
            )
            assert err <= best + 1e-9
    # the guarded ensemble's out-of-fold MAE is never above a member's
    assert (model.meta.oof_mae_[-1] <= model.meta.oof_mae_[:-1].min(axis=0)).all()
