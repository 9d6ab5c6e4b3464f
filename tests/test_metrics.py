"""Metrics against values computed by hand on a small fixed score set.

real:   0.9 0.8 0.6 0.3            threshold 0.5
screen: 0.7 0.2 0.1
print:  0.55 0.4
"""
import pytest

from marginlive.evaluation.metrics import all_metrics, apcer_bpcer, bpcer_at_apcer, eer, error_interval

S = [0.9, 0.8, 0.6, 0.3, 0.7, 0.2, 0.1, 0.55, 0.4]
Y = [1, 1, 1, 1, 0, 0, 0, 0, 0]
A = ["", "", "", "", "screen", "screen", "screen", "print", "print"]


def test_iso_rates_at_threshold():
    m = apcer_bpcer(S, Y, 0.5, A)
    assert m["apcer_per_attack"] == pytest.approx({"print": 0.5, "screen": 1 / 3})
    assert m["apcer"] == pytest.approx(0.5)          # worst species
    assert m["apcer_pooled"] == pytest.approx(0.4)   # 2 of 5 attacks accepted
    assert m["bpcer"] == pytest.approx(0.25)         # 0.3 rejected
    assert m["acer"] == pytest.approx(0.375)


def test_paper_metrics_and_auc():
    m = all_metrics(S, Y, 0.5, A)
    assert m["confusion_matrix"]["rows_true_cols_pred"] == [[3, 2], [1, 3]]
    assert m["accuracy"] == pytest.approx(6 / 9)
    assert m["precision"] == pytest.approx(0.6)
    assert m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert m["auc"] == pytest.approx(16 / 20)  # 16 of 20 real-attack pairs ordered right


def test_eer_interpolated():
    e, t = eer(S, Y)
    assert e == pytest.approx(0.25)
    assert 0.4 <= t <= 0.6


def test_bpcer_at_fixed_apcer():
    # APCER <= 5% for every species needs a threshold above 0.7 (the best attack): t = 0.8
    b, t = bpcer_at_apcer(S, Y, 0.05, A)
    assert t == pytest.approx(0.8) and b == pytest.approx(0.5)
    # APCER <= 50% allows t = 0.55 (print 1/2, screen 1/3): BPCER 1/4
    b, t = bpcer_at_apcer(S, Y, 0.5, A)
    assert t == pytest.approx(0.55) and b == pytest.approx(0.25)


def test_hter_at_dev_threshold():
    m = all_metrics(S, Y, 0.5, A, dev_threshold=0.65)
    # at 0.65: real rejected 0.6, 0.3 -> 0.5; attacks accepted 0.7 -> 0.2; HTER 0.35
    assert m["hter"] == pytest.approx(0.35)


def test_one_class_reports_what_it_can():
    m = all_metrics([0.9, 0.2, 0.7], [1, 1, 1], 0.5)
    assert m["bpcer"] == pytest.approx(1 / 3) and m["apcer"] is None and m["acer"] is None
    assert m["auc"] is None and any("only real" in n for n in m["notes"])


def test_bad_labels():
    with pytest.raises(ValueError):
        all_metrics([0.5], [2], 0.5)


def test_wilson_interval_against_hand_values():
    # 0 of 30: the upper end is z^2 / (n + z^2) = 3.8415 / 33.8415
    assert error_interval(0, 30) == pytest.approx((0.0, 0.1135), abs=1e-4)
    # 5 of 100: centre (0.05 + 0.0192) / 1.0384, half 1.96 * sqrt(0.000475 + 0.0000096) / 1.0384
    assert error_interval(5, 100) == pytest.approx((0.0215, 0.1118), abs=1e-4)
    assert error_interval(30, 30) == pytest.approx((0.8865, 1.0), abs=1e-4)
    # symmetric in errors and successes, narrower with more frames, wider at higher confidence
    lo, hi = error_interval(3, 40)
    assert error_interval(37, 40) == pytest.approx((1 - hi, 1 - lo))
    assert error_interval(30, 400)[1] - error_interval(30, 400)[0] < hi - lo
    assert error_interval(3, 40, 0.99)[1] > hi


@pytest.mark.parametrize("errors, n, confidence", [(1, 0, 0.95), (-1, 5, 0.95), (6, 5, 0.95), (1, 5, 1.0)])
def test_wilson_interval_refuses_what_is_no_rate(errors, n, confidence):
    with pytest.raises(ValueError):
        error_interval(errors, n, confidence)


def test_rates_carry_their_intervals():
    m = apcer_bpcer(S, Y, 0.5, A)
    assert m["bpcer_interval"] == pytest.approx(error_interval(1, 4))
    assert m["apcer_interval"] == pytest.approx(error_interval(1, 2))   # print, the worst species
    only_live = apcer_bpcer([0.9, 0.2], [1, 1], 0.5)
    assert only_live["apcer_interval"] is None and only_live["bpcer_interval"] == pytest.approx(error_interval(1, 2))
