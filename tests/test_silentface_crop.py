"""The Silent-Face crop (silentface_crop.py): the authors' geometry kept exact, and the three
options that change it only for a face filling the frame, a wide window and a noisy sensor."""
import numpy as np
import pytest

from marginlive.silentface_crop import NOISY_AVERAGE, ShiftedCrop, noise_and_level, noise_sigma
from marginlive.types import FaceBox


def _coordinates(h=100, w=200):
    """A frame whose red channel is x and green channel is y: a crop's pixels tell where it was cut."""
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, :, 2] = np.arange(w)[None, :]
    frame[:, :, 1] = np.arange(h)[:, None]
    return frame


def _smooth(h=360, w=480):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 255 // (w + h - 2)]).astype(np.uint8)


def _noisy(frame, sigma, seed=0):
    noise = np.random.default_rng(seed).normal(0, sigma, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def test_crop_stays_inside_the_frame_and_keeps_the_aspect():
    frame = _coordinates()
    mid = ShiftedCrop(2.0, 20).cut(frame, FaceBox(90, 40, 110, 60))     # 40x40 window about (100, 50)
    assert 80 <= mid[0, 0, 2] <= 82 and 118 <= mid[0, -1, 2] <= 120
    edge = ShiftedCrop(2.0, 20).cut(frame, FaceBox(0, 0, 20, 20))       # would cross the top-left corner
    assert edge[0, 0, 2] <= 1 and edge[0, 0, 1] <= 1 and edge[0, -1, 2] >= 37     # moved to 0..40, not
    assert (edge[..., 1].astype(int) + edge[..., 2] > 2).mean() > 0.95                # padded with black
    tall = ShiftedCrop(4.0, 20).cut(frame, FaceBox(90, 20, 110, 80))    # 4x60 > 100 rows: the scale shrinks
    assert tall[0, 10, 1] <= 3 and tall[-1, 10, 1] >= 96   # all 100 rows, resampled


def test_min_scale_repeats_the_edge_only_when_the_frame_is_too_small():
    frame = _coordinates()
    roomy = FaceBox(90, 40, 110, 60)                   # 2x fits: unchanged by the floor
    assert np.array_equal(ShiftedCrop(2.0, 20, min_scale=1.5).cut(frame, roomy), ShiftedCrop(2.0, 20).cut(frame, roomy))
    close = FaceBox(60, 10, 140, 90)                   # 80 px high: the frame holds 1.24x of it
    shrunk = ShiftedCrop(4.0, 40).cut(frame, close)
    kept = ShiftedCrop(4.0, 40, min_scale=1.5).cut(frame, close)
    assert shrunk[0, 20, 1] <= 2 and shrunk[-1, 20, 1] >= 97      # the whole height, as the authors crop
    rows = kept[:, 20, 1].astype(int)
    # 1.5 x 80 = 120 rows about the face's centre: 10 repeated rows above the frame, 10 below
    assert (rows[:3] == 0).all() and (rows[-3:] == 99).all()
    face = kept[:, :, 2].astype(int)                   # the face's 80 columns span 1 / 1.5 of the crop
    inside = np.flatnonzero((face[20] >= 60) & (face[20] <= 140))
    assert len(inside) == pytest.approx(40 / 1.5, abs=2)
    assert kept.shape == (40, 40, 3)


def test_max_side_averages_a_large_window_instead_of_sampling_it():
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    box = FaceBox(60, 40, 100, 80)                     # 4x the box: a 120-row window
    assert np.array_equal(ShiftedCrop(4.0, 20, max_side=120).cut(frame, box), ShiftedCrop(4.0, 20).cut(frame, box))
    # a smooth scene is cut as before; per-pixel noise is averaged, not sampled
    box3 = FaceBox(180, 120, 300, 240)                 # a 360-row window: k = 3 at max_side 120
    plain, averaged = ShiftedCrop(4.0, 20), ShiftedCrop(4.0, 20, max_side=120)
    assert np.abs(plain.cut(_smooth(), box3).astype(int) - averaged.cut(_smooth(), box3)).max() <= 3
    noisy = _noisy(np.full((360, 480, 3), 128, np.uint8), 20)
    assert averaged.cut(noisy, box3).std() < 0.5 * plain.cut(noisy, box3).std()


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_sigma_reads_the_noise_not_the_scene(sigma):
    box = FaceBox(180, 120, 300, 240)
    assert noise_sigma(_smooth(), box) < 0.6          # a gradient has no noise, only rounding
    # gray averages the three channels' independent noise: sigma / sqrt(3) weighted (0.299, 0.587, 0.114)
    gray_sigma = sigma * np.sqrt(0.299 ** 2 + 0.587 ** 2 + 0.114 ** 2)
    assert noise_sigma(_noisy(_smooth(), sigma), box) == pytest.approx(gray_sigma, rel=0.15)
    assert noise_sigma(_smooth(), FaceBox(5, 5, 6, 6)) == 0.0     # too small to read: no noise claimed


def test_noise_level_averages_only_a_noisy_window():
    box = FaceBox(210, 150, 270, 210)                  # 4x: a 240-row window, within max_side 640
    adaptive, authors = ShiftedCrop(4.0, 20, max_side=640, noise_level=4.5), ShiftedCrop(4.0, 20)
    clean = _noisy(_smooth(), 1.0)
    assert np.array_equal(adaptive.cut(clean, box), authors.cut(clean, box))
    noisy = _noisy(_smooth(), 12.0)                    # about 7 gray levels
    k_times = ShiftedCrop(4.0, 20, max_side=100)      # the window's 241 px (ends included) in k = 3 blocks
    assert NOISY_AVERAGE == int(np.ceil(241 / k_times.max_side))
    assert np.array_equal(adaptive.cut(noisy, box), k_times.cut(noisy, box))
    residual = (lambda c: (c.astype(float) - authors.cut(_smooth(), box)).std())
    assert residual(adaptive.cut(noisy, box)) < 0.6 * residual(authors.cut(noisy, box))


def test_noise_ratio_averages_a_dark_noisy_window_that_noise_level_passes():
    """The same noise of about 2 gray levels: under noise_level either way; above 2% of the light on
    a face at a third of its brightness, below it on the face as it was."""
    box = FaceBox(210, 150, 270, 210)
    both = ShiftedCrop(4.0, 20, max_side=640, noise_level=3.5, noise_ratio=0.02)
    level_only, k_times = ShiftedCrop(4.0, 20, max_side=640, noise_level=3.5), ShiftedCrop(4.0, 20, max_side=100)
    bright, dark = _smooth(), (_smooth().astype(np.float32) / 3).astype(np.uint8)
    noisy_bright, noisy_dark = (_noisy(f, 3.0) for f in (bright, dark))
    sigma, level = noise_and_level(noisy_dark, box)
    assert sigma < 3.5 and sigma >= 0.02 * level and sigma < 0.02 * noise_and_level(noisy_bright, box)[1]
    assert np.array_equal(both.cut(noisy_dark, box), k_times.cut(noisy_dark, box))         # averaged
    assert np.array_equal(level_only.cut(noisy_dark, box), ShiftedCrop(4.0, 20).cut(noisy_dark, box))
    assert np.array_equal(both.cut(noisy_bright, box), ShiftedCrop(4.0, 20).cut(noisy_bright, box))


def test_options_are_checked_and_round_trip_through_metadata():
    crop = ShiftedCrop(4.0, 80, min_scale=1.5, max_side=640, noise_level=4.5, noise_ratio=0.02)
    assert ShiftedCrop.from_spec(crop.spec()) == crop and crop.spec()["crop"] == "shifted"
    assert ShiftedCrop.from_spec({"scale": 2.7, "size": 80}) == ShiftedCrop(2.7)   # the authors' crop
    for bad in ({"scale": 0}, {"size": 80.0}, {"min_scale": -1}, {"max_side": 1.5}, {"noise_level": "4"},
                {"max_side": True}, {"noise_ratio": -0.1}):
        with pytest.raises(ValueError):
            ShiftedCrop(**{"scale": 4.0, **bad})
    with pytest.raises(ValueError, match="scale"):
        ShiftedCrop.from_spec({"size": 80})
