import cv2
import numpy as np
import pytest

from conftest import need_shared
from marginlive.denoise import DenoiseOptions, TemporalDenoiser, temporal_noise
from marginlive.silentface_crop import noise_sigma
from marginlive.types import FaceBox


def scene(seed=0, shape=(240, 320, 3)) -> np.ndarray:
    """A still frame full of fine detail (per-pixel texture of 25 levels about mid-gray)."""
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, 25, shape), 0, 255).astype(np.uint8)


def noisy(frame, sd, rng) -> np.ndarray:
    return np.clip(frame + rng.normal(0, sd, frame.shape), 0, 255).astype(np.uint8)


def gray(f):
    return cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)


def test_still_detail_reads_as_no_noise_where_one_frame_reads_it_as_noise():
    s = scene()
    assert temporal_noise(gray(s), gray(s)) == 0.0
    # the spatial estimate of one frame cannot tell this detail from sensor noise
    assert noise_sigma(s, FaceBox(60, 40, 260, 200)) > 5


def test_noise_reads_at_its_gray_level_whatever_the_detail():
    rng = np.random.default_rng(1)
    s = scene()
    for sd in (4.0, 10.0):
        level = temporal_noise(gray(noisy(s, sd, rng)), gray(noisy(s, sd, rng)))
        # independent per channel: the gray conversion leaves about 0.67 of it
        assert level == pytest.approx(0.67 * sd, rel=0.15)


def test_a_moving_half_does_not_read_as_noise():
    rng = np.random.default_rng(2)
    a, b = scene(3), scene(4)                 # the left half changes entirely between the frames
    b[:, 160:] = a[:, 160:]
    level = temporal_noise(gray(noisy(a, 6, rng)), gray(noisy(b, 6, rng)))
    assert level == pytest.approx(0.67 * 6, rel=0.2)


def test_clipped_blocks_are_left_out_and_tiny_frames_read_zero():
    rng, s = np.random.default_rng(8), scene()
    a, b = noisy(s, 10, rng), noisy(s, 10, rng)
    a[:, :200] = b[:, :200] = 255             # a window burnt out: its noise clipped away
    assert temporal_noise(gray(a), gray(b)) == pytest.approx(6.7, rel=0.15)
    assert temporal_noise(gray(a[:, :200]), gray(b[:, :200])) == 0.0
    assert temporal_noise(np.zeros((10, 10), np.uint8), np.ones((10, 10), np.uint8)) == 0.0


def test_a_clean_camera_passes_frames_unchanged():
    d, s = TemporalDenoiser(), scene()
    for _ in range(5):
        out = d.update(s.copy())
        assert np.array_equal(out, s)
    assert not d.active and d.settled


def test_a_noisy_still_scene_is_averaged_once_it_settles():
    rng, s, d = np.random.default_rng(5), scene(), TemporalDenoiser()
    settled, outs = [], []
    for i in range(30):
        outs.append(d.update(noisy(s, 10, rng)))
        settled.append(d.settled)
    assert d.active
    # the first frame counts as it is (its noise not known yet); the first averages hold few frames
    # and are not ready to be scored until they hold `settle`
    n = DenoiseOptions().settle
    assert settled[:n + 1] == [True] + [False] * (n - 1) + [True] and all(settled[n:])
    residual = (outs[-1].astype(float) - s).std()
    assert residual < 0.4 * 10


def test_a_moving_object_leaves_no_ghost():
    rng, d = np.random.default_rng(6), TemporalDenoiser()
    bg = np.full((240, 320, 3), 100, np.uint8)
    moved = bg.copy()
    moved[100:140, 200:240] = 220           # a bright square appears
    for _ in range(15):
        d.update(noisy(bg, 8, rng))
    out = d.update(noisy(moved, 8, rng)).astype(float)
    assert abs(out[110:130, 210:230].mean() - 220) < 10    # not averaged with the frames before it
    assert abs(out[20:80, 20:80].mean() - 100) < 2


def test_a_slowly_moving_textured_face_is_followed_not_smeared():
    """A textured patch (a face's skin) moving 2 px a frame over a plain wall, noise of 10 levels: too
    little change per pixel to read as motion, so an average that stays put smears it over the frames
    before; the average that follows the picture leaves about the noise (docs/research)."""
    rng = np.random.default_rng(3)
    patch = cv2.GaussianBlur(rng.normal(0, 1, (80, 80, 3)).astype(np.float32), (0, 0), 2)
    patch = np.clip(150 + patch * (30 / patch.std()), 0, 255).astype(np.uint8)
    error = {}
    for follow in (False, True):
        d, rng = TemporalDenoiser(DenoiseOptions(follow=follow)), np.random.default_rng(4)
        for i in range(25):
            clean = np.full((240, 320, 3), 90, np.uint8)
            clean[80:160, 40 + 2 * i:120 + 2 * i] = patch
            out = d.update(noisy(clean, 10, rng))
        assert d.active
        error[follow] = (out.astype(float) - clean)[88:152, 48 + 2 * i:112 + 2 * i].std()
    assert error[False] > 15 and error[True] < 11, error


def test_a_hand_held_camera_is_followed_and_averaged():
    """The whole picture (a plain wall and a textured half) moving 2 px a frame, as a hand-held camera
    films it, noise of 10 levels: followed, the average leaves under half the noise; kept in place,
    it smears the texture past the noise."""
    rng = np.random.default_rng(3)
    room = cv2.GaussianBlur(rng.normal(0, 1, (300, 500, 3)).astype(np.float32), (0, 0), 3)
    room = np.clip(128 + room * (30 / room.std()), 0, 255).astype(np.uint8)
    room[:, :250] = 100
    error = {}
    for follow in (False, True):
        d, rng = TemporalDenoiser(DenoiseOptions(follow=follow)), np.random.default_rng(4)
        for i in range(25):
            clean = room[20:260, 100 + 2 * i:420 + 2 * i]
            out = d.update(noisy(clean, 10, rng))
        error[follow] = (out.astype(float) - clean)[8:-8, 8:-8].std()
    assert error[False] > 12 and error[True] < 5, error


@pytest.mark.parametrize("shape", [(16, 16, 3), (33, 65, 3), (129, 63, 3), (241, 321, 3)])
def test_frames_of_odd_and_small_sizes_are_averaged_and_keep_their_shape(shape):
    rng, d = np.random.default_rng(10), TemporalDenoiser()
    s = cv2.GaussianBlur(scene(shape=shape), (0, 0), 1.0)
    for _ in range(12):
        out = d.update(noisy(s, 12, rng))
        assert out.shape == shape and out.dtype == np.uint8
    assert d.active and (out.astype(float) - s).std() < 0.6 * 12


def test_another_frame_size_starts_afresh():
    rng, d = np.random.default_rng(7), TemporalDenoiser()
    for _ in range(6):
        d.update(noisy(scene(), 10, rng))
    assert d.active
    small = noisy(scene(shape=(120, 160, 3)), 10, rng)
    assert np.array_equal(d.update(small), small)
    assert not d.active and d.settled


def test_frames_above_the_size_limit_pass_unchanged_and_keep_nothing():
    rng, d = np.random.default_rng(9), TemporalDenoiser(DenoiseOptions(max_pixels=200 * 200))
    for _ in range(10):
        f = noisy(scene(), 10, rng)
        assert np.array_equal(d.update(f), f) and d.settled
    assert d._average is None and d._moved is None and d._reference is None and d._gray is None


@pytest.mark.parametrize("bad", [{"off_level": 3.0, "on_level": 2.0}, {"target": 0}, {"memory": 0},
                                 {"settle": True}, {"history": 1.5}, {"motion": -1},
                                 {"max_pixels": 0}])
def test_options_out_of_range_are_refused(bad):
    with pytest.raises(ValueError):
        DenoiseOptions(**bad)


def test_a_grainy_screen_replay_no_longer_passes_in_a_stream():
    """Grain of 10 levels spread over 1.5 px (a dim room's camera) makes most frames of a screen
    replay read as live, frame by frame; a stream averages it away (docs/camera_sensitivity.md)."""
    from marginlive.detect import create_detector
    from marginlive.evaluation.processing import grain
    from marginlive.frames import read_video_frames
    from marginlive.liveness.runtime import LivenessModel
    from marginlive.pipeline import LivenessDetector
    frames = read_video_frames(need_shared("data", "videos", "replay-1.webm"), every=2, max_frames=160)
    found = [(f.image, create_detector().detect(f.image)) for f in frames]
    found = [(f, max(b, key=lambda x: x.score)) for f, b in found if b]
    rng, model = np.random.default_rng(0), LivenessModel("default")
    grainy = [(grain(f, b, rng, sd=10.0, sigma=1.5), b) for f, b in found]
    passed = {}
    for name, opts in (("as frames", None), ("denoised", DenoiseOptions())):
        stream = LivenessDetector(model, denoise=opts).stream()
        scores = []
        for f, b in grainy:
            r = stream.update(f, [b])[0]
            if r.counted:
                scores.append(r.frame_score)
        passed[name] = float(np.mean(np.array(scores) >= model.threshold))
    assert passed["as frames"] > 0.4 and passed["denoised"] <= 0.05, passed
