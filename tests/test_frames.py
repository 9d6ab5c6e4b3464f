"""What a picture is: ``is_grayscale`` on colour and monochrome pictures, ``FaceBox.region``."""
import cv2
import numpy as np

from marginlive.frames import is_grayscale
from marginlive.types import FaceBox


def colour_picture(scale=1.0):
    """Sensor-like detail, each channel its own: a colour camera's picture (mean grey about 130 x scale)."""
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(130, 40, (120, 160, 3)) * scale, 0, 255).astype(np.uint8)


def as_grey(img):
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def jpeg(img, quality=80):
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def test_a_monochrome_picture_is_grayscale_also_after_jpeg():
    grey = as_grey(colour_picture())
    assert is_grayscale(grey) and is_grayscale(jpeg(grey))


def test_a_colour_picture_is_not_even_when_dark_or_compressed():
    assert not is_grayscale(colour_picture())
    assert not is_grayscale(jpeg(colour_picture(0.2)))


def test_a_tinted_flat_picture_is_not_grayscale_but_its_level_is_the_callers():
    warm = np.zeros((20, 20, 3), np.uint8) + np.uint8([100, 110, 120])   # channels 20 levels apart
    assert not is_grayscale(warm) and is_grayscale(warm, level=20)


def test_empty_region_is_not_grayscale():
    assert not is_grayscale(np.zeros((0, 0, 3), np.uint8))


def test_region_is_the_box_clipped_to_the_frame():
    frame = np.arange(10 * 12).reshape(10, 12)
    assert FaceBox(2, 3, 6, 8).region(frame).shape == (5, 4)
    assert FaceBox(-5, -5, 4, 4).region(frame).shape == (4, 4)
    assert FaceBox(20, 20, 30, 30).region(frame).size == 0
    assert np.shares_memory(FaceBox(1, 1, 3, 3).region(frame), frame)
