"""A camera's own processing (sharpening, tone mapping, a wide lens, dark corners, grain, flicker bands, a beauty
filter, overexposure, a missed white balance), as the benchmark applies it."""
import numpy as np
from conftest import edge_strength, need_shared

from marginlive.evaluation import processing
from marginlive.types import FaceBox

BOX = FaceBox(280, 200, 360, 280)
STEPS = (processing.sharpened, processing.tone_mapped, processing.wide_angle, processing.vignetted, processing.grain,
         processing.banded, processing.smoothed, processing.overexposed, processing.white_balanced)


def test_each_step_keeps_size_and_type_and_draws_its_strength_per_frame():
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    for fn in STEPS:
        a, b = fn(frame, BOX, np.random.default_rng(1)), fn(frame, BOX, np.random.default_rng(2))
        assert a.shape == frame.shape and a.dtype == np.uint8, fn.__name__
        assert not np.array_equal(a, b), fn.__name__                # another draw, another strength
        assert np.array_equal(a, fn(frame, BOX, np.random.default_rng(1))), fn.__name__


def test_sharpening_strengthens_edges_and_leaves_flat_areas():
    frame = np.full((120, 160, 3), 100, np.uint8)
    frame[:, 80:] = 160
    out = processing.sharpened(frame, BOX, np.random.default_rng(0))
    assert edge_strength(out) > 1.5 * edge_strength(frame)
    assert (out[:, :60] == 100).all() and (out[:, 100:] == 160).all()   # far from the edge: as it was


def test_tone_mapping_raises_contrast_in_a_dim_flat_region():
    rng = np.random.default_rng(0)
    frame = np.clip(40 + rng.normal(0, 3, (240, 320, 3)), 0, 255).astype(np.uint8)
    out = processing.tone_mapped(frame, BOX, rng)
    assert out[..., 0].astype(float).std() > 1.5 * frame[..., 0].astype(float).std()


def test_wide_angle_bends_straight_lines_and_keeps_the_centre():
    frame = np.full((240, 320, 3), 255, np.uint8)
    frame[:, 280:283] = 0                                    # a vertical line near the right edge
    frame[118:122, 158:162] = 0                              # a dot at the centre
    out = processing.wide_angle(frame, BOX, np.random.default_rng(0))
    line_x = [int(np.flatnonzero(out[y, 200:, 0] < 128).mean()) + 200 for y in (5, 120)]
    assert line_x[0] < line_x[1] - 2                         # the line bows outwards at its middle
    assert (out[119:121, 159:161] < 128).all()


def test_vignetting_darkens_the_corners_not_the_centre():
    frame = np.full((240, 320, 3), 200, np.uint8)
    out = processing.vignetted(frame, BOX, np.random.default_rng(0))
    assert abs(int(out[120, 160, 0]) - 200) <= 1
    assert 0.4 * 200 - 2 <= out[0, 0, 0] <= 0.6 * 200 + 2
    weaker = processing.vignetted(frame, None, np.random.default_rng(0), strength=(0.3, 0.3))
    assert abs(int(weaker[0, 0, 0]) - 0.7 * 200) <= 2 and abs(int(weaker[120, 160, 0]) - 200) <= 1


def test_grain_is_noise_of_4_to_10_levels_spread_over_neighbouring_pixels():
    from marginlive.silentface_crop import noise_sigma
    frame = np.full((240, 320, 3), 128, np.uint8)
    out = processing.grain(frame, BOX, np.random.default_rng(0))
    d = out.astype(float) - 128
    assert 3.5 <= d.std() <= 10.5
    assert np.corrcoef(d[:, :-1, 1].ravel(), d[:, 1:, 1].ravel())[0, 1] > 0.5   # neighbours move together
    assert noise_sigma(out, BOX) < 0.5 * d.std()        # the per-pixel estimate does not see it all
    fixed = processing.grain(frame, BOX, np.random.default_rng(0), sd=6.0, sigma=1.5).astype(float) - 128
    assert abs(fixed.std() - 6.0) < 0.3                     # a strength given is the strength used


def test_flicker_bands_darken_rows_periodically_and_keep_each_row_even():
    frame = np.full((240, 320, 3), 200, np.uint8)
    out = processing.banded(frame, BOX, np.random.default_rng(0)).astype(int)
    rows = out[:, :, 0].mean(axis=1)
    assert (out[:, :, 0] == out[:, :1, 0]).all()                    # horizontal bands: a row is one level
    assert rows.max() >= 199 and 0.75 * 200 - 1 <= rows.min() <= 0.9 * 200 + 1
    dark = rows < rows.max() - 0.5 * (rows.max() - rows.min())
    assert 2 <= int(np.sum(np.diff(dark.astype(int)) == 1)) + int(dark[0]) <= 9   # 240 rows of 30-120-row periods


def test_a_processed_live_frame_keeps_its_face_findable():
    from marginlive.detect import create_detector
    from marginlive.frames import read_video_frames
    frame = read_video_frames(need_shared("data", "videos", "live-1.webm"), max_frames=1)[0].image
    det = create_detector()
    box = max(det.detect(frame), key=lambda b: b.score)
    for fn in STEPS:
        found = det.detect(fn(frame, box, np.random.default_rng(0)))
        assert found, fn.__name__
        near = max(found, key=lambda b: b.score)
        assert abs(near.cx - box.cx) < 0.25 * box.w, fn.__name__


def test_beauty_filter_smooths_fine_texture_and_keeps_strong_edges():
    rng = np.random.default_rng(0)
    frame = np.full((120, 160, 3), 90, np.uint8)
    frame[:, 80:] = 190                                                   # a strong edge
    frame = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)   # fine texture on both sides
    out = processing.smoothed(frame, BOX, np.random.default_rng(0)).astype(float)
    assert out[:, :70].std() < 0.7 * frame[:, :70].astype(float).std()
    assert out[:, 85:].mean() - out[:, :75].mean() > 90                 # the edge as strong as it was


def test_overexposure_brightens_and_burns_out_the_highlights():
    frame = np.zeros((10, 10, 3), np.uint8)
    frame[:5], frame[5:] = 60, 200
    out = processing.overexposed(frame, BOX, np.random.default_rng(0)).astype(int)
    assert 1.4 * 60 - 1 <= out[0, 0, 0] <= 2 * 60 + 1 and (out[5:] == 255).all()


def test_a_missed_white_balance_casts_warm_or_cool_and_keeps_green():
    frame = np.full((10, 10, 3), 100, np.uint8)
    casts = [processing.white_balanced(frame, BOX, np.random.default_rng(s))[0, 0].astype(int) for s in range(12)]
    assert all(c[1] == 100 and 70 <= min(c[0], c[2]) <= 90 and 110 <= max(c[0], c[2]) <= 130 for c in casts)
    assert {bool(c[2] > c[0]) for c in casts} == {True, False}           # both warm and cool casts drawn
    for warm in (True, False):                                          # or the one asked for
        asked = [processing.white_balanced(frame, BOX, np.random.default_rng(s), warm=warm)[0, 0] for s in range(6)]
        assert all((int(c[2]) > int(c[0])) == warm for c in asked)


def test_background_blur_keeps_the_person_and_smooths_the_rest():
    """With a person mask given (a disc), what is inside keeps its pixels and the rest loses its edges."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:240, 0:320]
    disc = (((yy - 120) ** 2 + (xx - 160) ** 2) < 60 ** 2).astype(np.float32)
    out = processing.background_blurred(frame, BOX, rng, cutout=lambda f: disc)
    inner, outer = disc > 0, ((yy - 120) ** 2 + (xx - 160) ** 2) > 90 ** 2
    assert np.abs(out[inner].astype(int) - frame[inner]).mean() < 3     # the person as it was, bar its feathered edge
    assert edge_strength(np.where(outer[..., None], out, 0)) < 0.2 * edge_strength(np.where(outer[..., None], frame, 0))
    a = processing.background_blurred(frame, BOX, np.random.default_rng(1), cutout=lambda f: disc)
    b = processing.background_blurred(frame, BOX, np.random.default_rng(2), cutout=lambda f: disc)
    assert a.shape == frame.shape and a.dtype == np.uint8 and not np.array_equal(a, b)   # the strength drawn


def test_background_blur_of_a_live_frame_keeps_the_face_sharp_and_findable():
    """MediaPipe's segmentation on a real frame: the face's pixels stay, the room behind is blurred."""
    from marginlive.detect import create_detector
    from marginlive.evaluation.shifts import PersonCutout
    from marginlive.frames import read_video_frames
    frame = read_video_frames(need_shared("data", "videos", "live-1.webm"), max_frames=1)[0].image
    det = create_detector()
    box = max(det.detect(frame), key=lambda b: b.score)
    cutout = PersonCutout()
    try:
        out = processing.background_blurred(frame, box, np.random.default_rng(0), cutout=cutout, sigma=12.0)
    finally:
        cutout.close()
    x1, y1, x2, y2 = (int(v) for v in (box.x1, box.y1, box.x2, box.y2))
    face = (slice(y1, y2), slice(x1, x2))
    assert np.abs(out[face].astype(int) - frame[face]).mean() < 2
    above = (slice(0, max(1, y1 - 40)), slice(None))   # the room above the head
    assert edge_strength(out[above]) < 0.5 * edge_strength(frame[above])
    assert det.detect(out)
