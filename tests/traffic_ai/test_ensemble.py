import numpy as np
import pytest

from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import (
    BACKBONE_MEAN,
    COMBINATION,
    CONVEX,
    StackingMetaLearner,
    TrafficModel,
    blocked_folds,
    choose_candidate,
    convex_weights,
)
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


def test_convex_weights_are_inverse_variance_and_sum_to_one() -> None:
    # members = truth + independent noise of std sigma_i: with weights summing to 1 the error
    # variance is sum(w_i^2 sigma_i^2), minimal for w_i proportional to 1 / sigma_i^2; a
    # noise-free member with a bias of 50 gets about var / 50^2 (var = 1 / sum(1 / sigma^2))
    rng = np.random.default_rng(4)
    sigmas = np.array([1.0, 2.0, 0.5])
    truth = 10.0 * rng.normal(size=20000)
    x = truth[:, None] + sigmas * rng.normal(size=(20000, 3))
    weights = convex_weights(np.column_stack([x, truth + 50.0]), truth)
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert (weights >= 0).all()
    assert 0.0 <= weights[3] < 1e-3
    np.testing.assert_allclose(weights[:3], (1 / sigmas**2) / np.sum(1 / sigmas**2), atol=0.02)


def test_choose_candidate_needs_pooled_and_half_of_the_blocks() -> None:
    incumbent = np.array([1.0, 1.0, 1.0, 1.0])
    one_outlier_day = np.array([1.1, 1.1, 1.1, 0.0])  # pooled 0.825 < 1, but wins 1 block of 4
    steady = np.array([0.9, 0.9, 1.2, 1.2])  # wins 2 of 4 but pooled 1.05
    better = np.array([0.95, 0.95, 1.1, 0.9])  # pooled 0.975, wins 3 of 4
    best = np.array([0.9, 0.9, 1.5, 0.3])  # pooled 0.9, wins 3 of 4
    per_block = np.stack([incumbent, one_outlier_day, steady, better, best])
    pooled = per_block.mean(axis=1)
    assert choose_candidate(pooled[:3], per_block[:3], 0) == 0
    assert choose_candidate(pooled[:4], per_block[:4], 0) == 3
    assert choose_candidate(pooled, per_block, 0) == 4  # lowest pooled among challengers
    # with 3 as incumbent, 1 wins only 1 block of 4 (a tie is no win), 4 wins 3 of 4
    assert choose_candidate(pooled, per_block, 3) == 4
    assert choose_candidate(pooled[[0, 2]], per_block[[0, 2]], 0) == 0


def test_guarded_fit_keeps_a_combination_that_transfers_across_blocks() -> None:
    # truth ~ N(0, 1), members = truth + noise (std 1, 1.5): the backbone mean has error
    # variance (1 + 2.25) / 4 = 0.81, the convex combination 1 / (1 + 1 / 2.25) = 0.69, stacked
    # regression (shrinking towards the mean of the truth) 1 / (1 + 1 + 1 / 2.25) = 0.41
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
    assert meta.oof_mae_[-1, 0, 0] == pytest.approx(np.sqrt(0.41 * 2 / np.pi), rel=0.05)
    np.testing.assert_allclose(meta.weights_, StackingMetaLearner().fit(members, truth).weights_)


def test_guarded_fit_prefers_the_convex_combination_when_the_level_shifts() -> None:
    # the truth's level differs between the blocks: an intercept fitted on one block is wrong
    # on the other, while convex weights (no intercept) transfer; member 1 is four times as
    # noisy, so the convex weights are 16/17 and 1/17 and beat the equal-weight mean
    rng = np.random.default_rng(5)
    truth = 10.0 * rng.normal(size=(2000, 1, 4, 1))
    truth[1000:] += 20.0
    members = truth + np.array([0.5, 2.0])[:, None, None, None, None] * rng.normal(
        size=(2, *truth.shape)
    )
    blocks = [np.arange(0, 1000), np.arange(1000, 2000)]
    days = list(np.array_split(np.arange(2000), 8))
    meta = StackingMetaLearner().fit_guarded(members, truth, blocks, evaluation_blocks=days)
    assert (meta.selected_ == CONVEX).all()
    np.testing.assert_allclose(meta.weights_[..., 0], 16 / 17, atol=0.02)
    np.testing.assert_allclose(meta.weights_.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(meta.intercept_, 0.0)


def test_guarded_fit_keeps_the_backbone_mean_when_nothing_beats_it() -> None:
    # two backbones with equal, independent noise (std 1) and a baseline that repeats their
    # mean error 1.5-fold: every convex mix has error (1 + 0.5 w_baseline) * mean error, so
    # the mean is the best combination. On one day of eight the backbones are off by 3 and
    # the baseline is exact: pooled MAE, baseline 7/8 * 1.06 * 0.80 = 0.74 < mean
    # 7/8 * 0.71 * 0.80 + 3/8 = 0.87, but the baseline wins 1 day of 8 -> the mean is kept
    rng = np.random.default_rng(6)
    truth = 10.0 * rng.normal(size=(4000, 1, 2, 1))
    noise = rng.normal(size=(2, *truth.shape))
    backbones = truth + noise
    day = slice(3500, 4000)
    backbones[:, day] += 3.0
    baseline = truth + 1.5 * noise.mean(axis=0)
    baseline[day] = truth[day]
    members = np.concatenate([backbones, baseline[None]])
    blocks = [np.arange(0, 2000), np.arange(2000, 4000)]
    days = list(np.array_split(np.arange(4000), 8))
    meta = StackingMetaLearner().fit_guarded(
        members, truth, blocks, backbones=2, evaluation_blocks=days
    )
    assert (meta.selected_ == BACKBONE_MEAN).all()
    np.testing.assert_array_equal(meta.weights_, np.broadcast_to([0.5, 0.5, 0.0], (1, 1, 3)))
    np.testing.assert_allclose(meta.predict(members), backbones.mean(axis=0))
    # the baseline alone had the lower pooled out-of-fold MAE (MAE of N(0, s^2): 0.80 s)
    assert (meta.oof_mae_[2] < meta.oof_mae_[-1]).all()
    assert meta.oof_mae_[2, 0, 0] == pytest.approx(7 / 8 * 1.5 * np.sqrt(0.5 * 2 / np.pi), rel=0.05)
    assert meta.oof_mae_[-1, 0, 0] == pytest.approx(
        7 / 8 * np.sqrt(0.5 * 2 / np.pi) + 3 / 8, rel=0.05
    )


def test_guarded_fit_falls_back_to_the_best_member_where_the_combination_fails() -> None:
    # member 1 is exact in the first half and off by 5 in the second: fitted on one block,
    # the combinations trust the wrong member on the other, and the mean is off by 2.5 on the
    # second half; member 0 alone (noise 0.3, MAE 0.3*sqrt(2/pi) = 0.24) has the lower pooled
    # MAE and wins the 5 days of the second half, so it is chosen with weight 1, no intercept
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(2000, 1, 2, 1))
    members = np.stack([truth + 0.3 * rng.normal(size=truth.shape), truth.copy()])
    members[1, 1000:] += 5.0
    blocks = [np.arange(0, 1000), np.arange(1000, 2000)]
    days = list(np.array_split(np.arange(2000), 10))
    meta = StackingMetaLearner().fit_guarded(members, truth, blocks, evaluation_blocks=days)
    assert (meta.selected_ == 0).all()
    np.testing.assert_array_equal(meta.weights_[..., 0], 1.0)
    np.testing.assert_array_equal(meta.weights_[..., 1], 0.0)
    np.testing.assert_array_equal(meta.intercept_, 0.0)
    np.testing.assert_allclose(meta.predict(members), members[0])
    assert meta.oof_mae_[-1, 0, 0] == meta.oof_mae_[0, 0, 0]
    assert meta.oof_mae_[0, 0, 0] == pytest.approx(0.3 * np.sqrt(2 / np.pi), rel=0.1)
    with pytest.raises(ValueError, match="at least 2 blocks"):
        StackingMetaLearner().fit_guarded(members, truth, blocks[:1])
    with pytest.raises(ValueError, match="unknown combiner"):
        StackingMetaLearner().fit(members, truth, combiner="median")


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
    # the meta-learner was fitted on the out-of-fold forecasts: where stacked regression was
    # chosen, on them (in sample) it is never worse than its best member in squared error
    oof, blocks = model.out_of_fold(prepared, origins, model.stacked_names)
    oof = oof.astype(np.float64)
    assert sorted(np.concatenate(blocks).tolist()) == list(range(len(origins)))
    target = prepared.window_targets(origins).astype(np.float64)
    stacked = model.meta.predict(oof)
    for h, c in zip(*np.nonzero(model.meta.selected_ == COMBINATION), strict=True):
        err = ((stacked[:, h, :, c] - target[:, h, :, c]) ** 2).mean()
        best = min(((oof[m][:, h, :, c] - target[:, h, :, c]) ** 2).mean() for m in range(len(oof)))
        assert err <= best + 1e-9
    # the chosen candidate's out-of-fold MAE is never above the backbone mean's (incumbent)
    n = len(config.backbones)
    mean_mae = np.nanmean(np.abs(oof[:n].mean(axis=0) - target), axis=(0, 2))
    assert (model.meta.oof_mae_[-1] <= mean_mae + 1e-9).all()
    # the weights of every choice: a combiner's weights or one member with weight 1
    alone = model.meta.selected_ >= 0
    np.testing.assert_array_equal(model.meta.weights_[alone].max(axis=-1), 1.0)
    np.testing.assert_allclose(model.meta.weights_[model.meta.selected_ == CONVEX].sum(-1), 1.0)
