"""Reading pictures: ``is_grayscale`` on colour and monochrome ones, ``FaceBox.region``, GIFs, and
large files read smaller where the network's bytes are refused."""
import cv2
import numpy as np
import pytest

from conftest import as_grey
from marginlive.errors import InputError, TooLargeError
from marginlive.frames import decode_image, is_grayscale, read_image, sharpness
from marginlive.types import FaceBox


def colour_picture(scale=1.0):
    """Sensor-like detail, each channel its own: a colour camera's picture (mean grey about 130 x scale)."""
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(130, 40, (120, 160, 3)) * scale, 0, 255).astype(np.uint8)


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


def encoded(img, ext, **pil):
    """``img`` (BGR) encoded as ``ext`` by Pillow (which OpenCV may not read back)."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img[:, :, ::-1])).save(buf, ext, **pil)
    return buf.getvalue()


def test_a_gif_is_read_as_its_first_frame():
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :30] = (255, 0, 0)                                  # blue left half, in BGR
    out = decode_image(encoded(img, "GIF"))
    assert out.shape == (40, 60, 3) and out[20, 10].tolist() == [255, 0, 0] and out[20, 50].tolist() == [0, 0, 0]


def test_a_large_jpeg_file_is_read_smaller_and_upright_a_large_png_refused(tmp_path):
    from PIL import Image
    img = colour_picture()
    big = Image.fromarray(img[:, :, ::-1]).resize((8000, 6000))          # 48 megapixels, a phone's photo
    exif = Image.Exif()
    exif[0x0112] = 6                                                     # shown turned 90 degrees clockwise
    big.save(tmp_path / "phone.jpg", exif=exif, quality=80)
    assert read_image(tmp_path / "phone.jpg").shape == (4000, 3000, 3)  # halved, then turned upright
    big.save(tmp_path / "poster.png", compress_level=1)
    with pytest.raises(TooLargeError, match="8000x6000"):
        read_image(tmp_path / "poster.png")


def test_a_header_whose_size_cannot_be_read_is_not_decoded(tmp_path):
    """60 bytes of a Radiance HDR header claim 30000x30000 pixels in a way Pillow does not read:
    OpenCV would allocate 10.8 GB for them; the pixel budget cannot be checked, so it is refused."""
    radiance = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n" + bytes(1000)
    with pytest.raises(InputError, match="not a readable image"):
        decode_image(radiance)
    (tmp_path / "sky.hdr").write_bytes(radiance)
    with pytest.raises(InputError, match="not a readable image"):
        read_image(tmp_path / "sky.hdr")
    for ext in (".tiff", ".bmp", ".webp"):                  # formats whose size it reads still decode
        assert decode_image(cv2.imencode(ext, colour_picture())[1].tobytes()).shape == (120, 160, 3)


def test_an_avif_file_is_read_upright_but_avif_bytes_from_the_network_are_not(tmp_path):
    from PIL import Image, features
    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    img = np.zeros((120, 160, 3), np.uint8)                              # 160 wide, 120 high
    img[:60, :80] = (0, 0, 255)                                          # red top left, in BGR
    exif = Image.Exif()
    exif[0x0112] = 6                                                     # shown turned 90 degrees clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(img)[:, :, ::-1])).save(tmp_path / "phone.avif", exif=exif)
    out = read_image(tmp_path / "phone.avif")
    assert out.shape == (120, 160, 3) and np.abs(out.astype(int) - img).mean() < 4
    with pytest.raises(InputError, match="not a readable image"):
        decode_image((tmp_path / "phone.avif").read_bytes())


def test_a_heic_photo_is_named_in_the_error(tmp_path):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200)   # an iPhone photo's first box
    (tmp_path / "IMG_0001.HEIC").write_bytes(heic)
    with pytest.raises(InputError, match="HEIC/HEIF photo .* save or export it as JPEG"):
        read_image(tmp_path / "IMG_0001.HEIC")


def test_bytes_from_the_network_are_never_shrunk_only_refused():
    data = encoded(colour_picture(), "JPEG")
    assert decode_image(data).shape == (120, 160, 3)
    with pytest.raises(TooLargeError):
        decode_image(data, max_pixels=10_000)


def test_sharpness_does_not_fall_with_the_cameras_resolution_but_with_blur(live_frames):
    frame = live_frames[0].image
    face = frame[100:380, 220:420]
    big = cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)[300:1140, 660:1260]
    # measured as it comes, the 3x face would read a tenth of this and pass for blurred
    assert cv2.Laplacian(cv2.cvtColor(big, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() < 0.2 * sharpness(face)
    assert 0.7 < sharpness(big) / sharpness(face) < 1.4
    assert sharpness(cv2.GaussianBlur(face, (0, 0), 3)) < 0.3 * sharpness(face)
    assert sharpness(face[:0]) == 0.0


def test_a_video_of_frames_above_8k_is_refused_before_its_first_frame(tmp_path):
    from marginlive.frames import VideoSource
    for (w, h), ok in (((8000, 4500), False), ((640, 480), True)):
        path = tmp_path / f"{w}x{h}.avi"
        out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (w, h))
        out.write(np.zeros((h, w, 3), np.uint8))
        out.release()
        if ok:
            with VideoSource(path) as src:
                assert [f.image.shape for f in src] == [(h, w, 3)]
        else:
            with pytest.raises(TooLargeError, match="8000x4500 pixels a frame"):
                VideoSource(path)


def test_frames_sampled_from_a_long_video_are_spread_over_it_and_never_all_held(tmp_path):
    import tracemalloc

    from marginlive.frames import sample_video_frames
    path = tmp_path / "long.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(300):                                     # 10 s; 276 MB were every frame held
        out.write(np.full((480, 640, 3), i % 250, np.uint8))
    out.release()
    tracemalloc.start()
    frames = sample_video_frames(path, 5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    idx = [f.index for f in frames]
    assert len(idx) == 5 and idx[0] == 0 and idx[-1] >= 240 and np.diff(idx).min() >= 50
    assert [round(float(f.image.mean())) for f in frames] == [i % 250 for i in idx]
    assert peak < 12 * 640 * 480 * 3                         # at most 2 x 5 frames and the one decoding
    assert [f.index for f in sample_video_frames(path, 1000)] == list(range(300))


def test_a_phones_10_bit_hevc_video_stored_sideways_is_read_upright_as_a_vp9_one():
    """tests/data: FFmpeg's test pattern at 128x96, 3 frames, as VP9, and as an iPhone stores it: HEVC
    Main 10, the frames stored turned (96x128) with a display rotation of 90 degrees."""
    from pathlib import Path

    from marginlive.frames import VideoSource
    data = Path(__file__).parent / "data"
    with VideoSource(data / "hevc10-rotated-128x96-3-frames.mov") as src:
        hevc = [f.image for f in src]
    with VideoSource(data / "vp9-128x96-3-frames.webm") as src:
        vp9 = [f.image for f in src]
    assert [f.shape for f in hevc] == [f.shape for f in vp9] == [(96, 128, 3)] * 3
    assert np.abs(hevc[0].astype(int) - vp9[0]).mean() < 15     # the same picture, the same way up
    assert np.abs(hevc[0][::-1, ::-1].astype(int) - vp9[0]).mean() > 40   # as a wrong turn would differ
