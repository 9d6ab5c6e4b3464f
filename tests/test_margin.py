import numpy as np
import pytest

from marginlive.margin import (context_box, crop_batch, crop_from_context, crop_margin, margin_square)
from marginlive.types import FaceBox


def gradient(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x % 256, y % 256, (x + y) % 256]).astype(np.uint8)


def test_square_is_margin_times_longer_side_and_centred():
    b = FaceBox(100, 100, 140, 180)  # w 40, h 80
    x0, y0, side = margin_square(b, 2.0)
    assert side == 160
    assert (x0 + side / 2, y0 + side / 2) == (b.cx, b.cy)


def test_inside_frame_crop_equals_resized_region():
    import cv2
    img = gradient(480, 640)
    b = FaceBox(300, 200, 340, 240)  # 40x40 -> 80x80 square at (280,180)
    out = crop_margin(img, b, 2.0, 64)
    want = cv2.resize(img[180:260, 280:360], (64, 64), interpolation=cv2.INTER_LINEAR)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - want).mean() < 1.5


def test_corner_face_is_centred_and_padded_black():
    img = np.full((480, 640, 3), 200, np.uint8)
    b = FaceBox(0, 0, 40, 40)  # square (-20,-20)-(60,60): top-left quarter outside
    out = crop_margin(img, b, 2.0, 64)
    q = out[:16, :16]   # the outside quarter -> black
    assert q.max() == 0
    assert out[40:, 40:].min() == 200   # inside part keeps frame pixels
    # the face (centre) stays at the centre of the crop
    assert out[32, 32].min() == 200


def test_box_larger_than_frame():
    img = np.full((100, 160, 3), 90, np.uint8)
    b = FaceBox(-50, -80, 210, 180)
    out = crop_margin(img, b, 2.0, 64)
    assert out.shape == (64, 64, 3)
    # frame occupies the middle of the crop, black around it
    assert out[0, 0].max() == 0 and out[32, 32].min() == 90


def test_box_wholly_outside_frame_gives_black():
    img = np.full((100, 100, 3), 255, np.uint8)
    assert crop_margin(img, FaceBox(500, 500, 520, 520), 2.0, 64).max() == 0


def test_tiny_face_is_enlarged():
    img = gradient(50, 50)
    out = crop_margin(img, FaceBox(20, 20, 22, 22), 2.0, 64)
    assert out.shape == (64, 64, 3) and out.std() > 0


@pytest.mark.parametrize("shape", [(480, 640), (640, 480), (37, 301)])
def test_non_square_frames(shape):
    img = gradient(*shape)
    b = FaceBox(shape[1] * 0.4, shape[0] * 0.3, shape[1] * 0.6, shape[0] * 0.7)
    out = crop_margin(img, b, 2.0, 64)
    assert out.shape == (64, 64, 3)


def test_bad_margin_rejected():
    with pytest.raises(ValueError):
        crop_margin(gradient(10, 10), FaceBox(1, 1, 5, 5), 0.0)


def test_batch_stacks_all_faces():
    img = gradient(200, 200)
    boxes = [FaceBox(10, 10, 50, 50), FaceBox(100, 100, 150, 150)]
    batch = crop_batch(img, boxes, 2.0, 64)
    assert batch.shape == (2, 64, 64, 3)
    assert crop_batch(img, [], 2.0, 64).shape == (0, 64, 64, 3)


@pytest.mark.parametrize("margin", [1.0, 1.5, 2.0, 2.7, 4.0])
def test_crop_from_context_matches_direct_crop(margin, live_frames):
    """The stored 4x context gives the same crop as the full frame (training == inference)."""
    img = live_frames[0].image
    for b in (FaceBox(250, 150, 390, 330), FaceBox(10, 300, 150, 470)):  # centre and corner
        ctx = crop_margin(img, b, 4.0, 256)
        direct = crop_margin(img, b, margin, 64).astype(int)
        via = crop_from_context(ctx, margin, 64).astype(int)
        assert np.abs(direct - via).mean() < 2.5
        # the black (outside-frame) area has the same size to within one edge of pixels
        assert abs(int((direct.sum(2) == 0).sum()) - int((via.sum(2) == 0).sum())) <= 64


def test_context_box_is_centred():
    b = context_box(FaceBox(0, 0, 50, 100))
    assert abs(b.cx - 128) < 1e-6 and abs(b.h - 64) < 1e-6 and abs(b.w - 32) < 1e-6
