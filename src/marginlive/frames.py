"""Open images, folders, video files and cameras as iterators of BGR uint8 frames."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import CameraError, InputError, TooLargeError
from .orientation import turn
from .types import Frame

# FFmpeg inside OpenCV prints a line per packet it cannot decode (hundreds for one AV1 video) before
# VideoSource can say why in one; read when the first capture opens, so set before any
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".avif", ".heic", ".heif"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m"}


# a picture whose channels differ by at most this many levels (95th percentile) holds no colour:
# a monochrome or infrared camera, or a black-and-white file, stores its grey in all three channels
# (0-2 levels apart after JPEG); the face boxes of every crop of ../shared differ by 14 levels or
# more, a colour frame darkened to a mean grey of 23 still by 9
GRAYSCALE_LEVEL = 4.0

MAX_PIXELS = 25_000_000   # 25 megapixels: far above any camera frame, far below a decompression bomb
MAX_VIDEO_PIXELS = 7680 * 4320   # an 8K video's frame (33 MP): a container may claim any size


def header_size(data: bytes, what: str = "image") -> tuple[int, int] | None:
    """(width, height) an encoded image's header claims, read with Pillow without decoding the
    pixels; None where Pillow cannot read the header (``decode_image`` then refuses it). TooLargeError
    above Pillow's own limit, about 179 megapixels."""
    import io

    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError:
        raise TooLargeError(f"{what} is more than 179 megapixels (send a camera frame, not a poster)") from None
    except Exception:  # Pillow raises many types for headers it does not know
        return None


def check_pixel_budget(data: bytes, what: str = "image", max_pixels: int = MAX_PIXELS,
                       size: tuple[int, int] | None = None) -> None:
    """Raise TooLargeError (HTTP 413) when an encoded image's header claims more than
    ``max_pixels`` pixels (``size``, where the caller read it already: ``header_size``)."""
    size = size or header_size(data, what)
    if size is not None and size[0] * size[1] > max_pixels:
        raise TooLargeError(f"{what} is {size[0]}x{size[1]} pixels, above the limit of {max_pixels:,} pixels "
                            "(send a camera frame, not a poster)")


# libjpeg decodes a JPEG at 1/2, 1/4 or 1/8 of its size (DCT scaling) for these imread flags
_REDUCED = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))


def _reduced_flag(data: bytes, size: tuple[int, int] | None, max_pixels: int) -> int:
    """The imread flag that decodes a JPEG of ``size`` (its header's) above ``max_pixels`` at the
    largest of 1/2, 1/4, 1/8 of its size within them; IMREAD_COLOR where it fits as it is, or is no
    JPEG (left to ``check_pixel_budget``)."""
    if size is None or size[0] * size[1] <= max_pixels or data[:2] != b"\xff\xd8":
        return cv2.IMREAD_COLOR
    for k, flag in _REDUCED:
        if size[0] * size[1] <= max_pixels * k * k:
            return flag
    return cv2.IMREAD_COLOR


# what Pillow decodes where OpenCV does not: a GIF's first frame wherever bytes come from; AVIF (a phone's
# or a web page's picture: libavif, in Pillow's wheel) from files, the server needing no more than JPEG
NETWORK_FORMATS = ("GIF",)
FILE_FORMATS = ("GIF", "AVIF")
# ISO-BMFF brands of HEIF pictures with HEVC inside (an iPhone's photo), which nothing installed decodes
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def _unreadable(data: bytes, what: str, formats: tuple[str, ...] = NETWORK_FORMATS) -> InputError:
    """The error for bytes that decode to no picture: a HEIC photo named as such (save it as JPEG)."""
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return InputError(f"{what} is a HEIC/HEIF photo (an iPhone's default), which cannot be decoded here: "
                          "save or export it as JPEG")
    names = ["JPEG", "PNG", "WebP", "BMP", "TIFF"] + [f for f in formats if f != "GIF"] + ["GIF"]
    return InputError(f"{what} is not a readable image ({', '.join(names[:-1])} or {names[-1]} expected)")


def decode_image(data: bytes, what: str = "image", max_pixels: int = MAX_PIXELS, shrink: bool = False,
                 formats: tuple[str, ...] = NETWORK_FORMATS) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to BGR uint8, or raise InputError.

    The header's size is checked first (``check_pixel_budget``, default 25 megapixels), so a few
    hundred bytes that claim 20000x20000 pixels cannot make the process allocate gigabytes. With
    ``shrink`` a JPEG above the budget is decoded at 1/2, 1/4 or 1/8 of its size instead, the
    largest within it (a phone's 50-megapixel photo read from a file; a face in it is hundreds of
    pixels wide either way). ``formats``: Pillow's formats read where OpenCV reads nothing
    (default ``NETWORK_FORMATS``, GIF; ``read_image`` adds AVIF)."""
    if not data:
        raise InputError(f"{what} is empty")
    size = header_size(data, what)
    if size is None:   # a header Pillow cannot read: its size unchecked, OpenCV may allocate any amount
        raise _unreadable(data, what, formats)
    flag = _reduced_flag(data, size, max_pixels) if shrink else cv2.IMREAD_COLOR
    if flag == cv2.IMREAD_COLOR:
        check_pixel_budget(data, what, max_pixels, size)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if arr is None or arr.size == 0:
        arr = _decode_with_pillow(data, formats)   # what OpenCV does not read: a GIF (its first frame)
    if arr is None or arr.size == 0:
        raise _unreadable(data, what, formats)
    return arr


def _decode_with_pillow(data: bytes, formats: tuple[str, ...]) -> np.ndarray | None:
    """BGR uint8 of a picture in one of Pillow's ``formats`` (a GIF's first frame), turned upright by
    its orientation, else None. Only those named: some of Pillow's other decoders hand the data to
    external programs."""
    import io

    from PIL import Image, ImageOps
    try:
        with Image.open(io.BytesIO(data), formats=list(formats)) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception:  # Pillow raises many types for data it does not know
        return None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as BGR uint8; InputError if missing or not an image. A JPEG above
    ``MAX_PIXELS`` is decoded at a half, a quarter or an eighth of its size (``decode_image``)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: not a file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror})") from None
    return decode_image(data, what=str(p), shrink=True, formats=FILE_FORMATS)


def as_bgr(frame) -> np.ndarray:
    """``frame`` as the (H, W, 3) uint8 BGR array every model here reads, or InputError saying what
    it is instead. A grayscale (H, W) or (H, W, 1) frame is given three equal channels (its faces are
    then flagged grayscale, ``is_grayscale``); a BGRA (H, W, 4) one loses its alpha channel."""
    if not isinstance(frame, np.ndarray):
        raise InputError("a frame is an (H, W, 3) uint8 BGR numpy array (read_image reads one), "
                         f"not {type(frame).__name__}")
    if frame.dtype != np.uint8:
        how = ("(x * 255).round().clip(0, 255).astype(np.uint8) for values in 0-1" if frame.dtype.kind == "f"
               else "(x >> 8).astype(np.uint8) for 16 bits" if frame.dtype == np.uint16 else "scale it to 0-255")
        raise InputError(f"a frame's pixels are uint8 (0-255), not {frame.dtype}: {how}")
    if frame.size == 0:
        raise InputError(f"an empty frame (shape {frame.shape})")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"a frame is (H, W, 3) BGR, not of shape {frame.shape}")
    return frame


def set_opencv_log_level(level: int) -> int | None:
    """Set OpenCV's log level (0 silent, 2 errors, 3 warnings, its default) and return the one before;
    None where this OpenCV offers neither call (4.11 has ``cv2.setLogLevel``, 4.14 only
    ``cv2.utils.logging.setLogLevel``)."""
    utils_logging = getattr(getattr(cv2, "utils", None), "logging", None)
    for setter in (getattr(cv2, "setLogLevel", None), getattr(utils_logging, "setLogLevel", None)):
        if setter is not None:
            return setter(level)
    return None


def read_image_or_warn(path: str | os.PathLike, who: str) -> np.ndarray | None:
    """Read an image for a batch job: on failure print ``who: warning: ...; skipped`` and return
    None, so one corrupt file among many is counted by the caller instead of stopping the run."""
    try:
        return read_image(path)
    except InputError as e:
        print(f"{who}: warning: {e}; skipped", file=sys.stderr)
        return None


def is_grayscale(image: np.ndarray, level: float = GRAYSCALE_LEVEL) -> bool:
    """Whether a BGR uint8 image (H, W, 3), a face's region say, holds no colour: the 95th
    percentile over its pixels of the largest difference between a pixel's B, G and R is at most
    ``level`` levels (default ``GRAYSCALE_LEVEL``, 4). False for an empty image."""
    if image.size == 0:
        return False
    px = image.reshape(-1, 3).astype(np.int16)
    spread = px.max(axis=1) - px.min(axis=1)
    return float(np.percentile(spread, 95)) <= level


SHARPNESS_SIZE = 112   # px: the side every face is resized to before its sharpness is measured


def sharpness(face: np.ndarray, size: int = SHARPNESS_SIZE) -> float:
    """Variance of the Laplacian (grey levels squared) of a face, BGR (H, W, 3) or grey (H, W),
    resized to ``size`` x ``size`` px (INTER_AREA; default ``SHARPNESS_SIZE``, 112); 0 for an
    empty image.

    At one size the measure does not fall with the camera's resolution: on the face as it comes, a
    sharp frame of 3x the pixels (1920x1440) reads 3 (median) where the 640x480 one reads 44, and a
    limit set on webcams calls it blurred; resized, 83 and 76."""
    if face.size == 0:
        return 0.0
    small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def grayscale_faces(frame: np.ndarray, results: list) -> list[bool]:
    """Per face of one frame's ``results`` (``FaceResult``, boxes in the frame as turned upright by
    their ``turned``), whether its picture is grayscale (``is_grayscale``)."""
    if not results:
        return []
    upright = turn(frame, results[0].turned // 90)
    return [is_grayscale(r.box.region(upright)) for r in results]


def kind_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    return "unknown"


def expand_paths(paths: list[str]) -> list[Path]:
    """Expand folders to the images and videos inside them (sorted); check every path exists."""
    out: list[Path] = []
    for s in paths:
        p = Path(s)
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and kind_of(q) != "unknown")
            if not found:
                raise InputError(f"{p}: folder holds no images or videos")
            out.extend(found)
        else:
            out.append(p)
    return out


class VideoSource:
    """A video file or camera as an iterator of Frames. Use as a context manager."""

    def __init__(self, path: str | os.PathLike | None = None, camera: int | None = None,
                 max_frames: int | None = None):
        self.name = f"camera:{camera}" if camera is not None else str(path)
        self.is_camera = camera is not None
        self.max_frames = max_frames
        if camera is not None:
            # OpenCV logs each backend's failure to open (an Orbbec depth camera's "index out of range"
            # among them) before the one line below says what to do
            level = set_opencv_log_level(0)
            try:
                self.cap = cv2.VideoCapture(camera)
            finally:
                if level is not None:
                    set_opencv_log_level(level)
            if not self.cap.isOpened():
                raise CameraError(f"camera {camera} cannot be opened (is it connected and free?)")
        else:
            p = Path(path)
            if not p.exists():
                raise InputError(f"{p}: no such file")
            if p.stat().st_size == 0:
                raise InputError(f"{p}: empty file, not a video")
            self.cap = cv2.VideoCapture(str(p))
            if not self.cap.isOpened():
                raise InputError(f"{p}: not a readable video")
            # A phone stores a portrait video landscape with a rotation flag; OpenCV's FFmpeg
            # reader ignores the flag unless told (measured with 4.11), and every face came out sideways.
            self.cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else 30.0
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = n if n > 0 else None
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self.width * self.height > MAX_VIDEO_PIXELS:   # each frame is decoded whole: refuse before the first
            self.close()
            raise TooLargeError(f"{self.name} is {self.width}x{self.height} pixels a frame, above an 8K video's "
                                f"{MAX_VIDEO_PIXELS:,}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def __iter__(self) -> Iterator[Frame]:
        i = 0
        while self.max_frames is None or i < self.max_frames:
            ok, img = self.cap.read()
            if not ok or img is None:
                break
            yield Frame(index=i, time=i / self.fps, image=img, source=self.name)
            i += 1
        if i == 0:
            if self.is_camera:
                raise CameraError(f"{self.name} opened but gave no frame")
            raise InputError(f"{self.name}: no decodable frame ({self._why_not()})")
        if self.is_camera and (self.max_frames is None or i < self.max_frames):
            raise CameraError(f"{self.name} stopped delivering frames after {i}")

    def _why_not(self) -> str:
        """Why a file opened but decoded no frame, for its error message."""
        codec = int(self.cap.get(cv2.CAP_PROP_FOURCC) or 0).to_bytes(4, "little").decode("latin-1").lower()
        if codec in ("av01", "av1 "):
            # OpenCV's wheels carry FFmpeg's AV1 decoder only for hardware it drives, never in software
            return ("an AV1 video, which OpenCV decodes only on hardware it drives, never in software: "
                    "re-encode it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`")
        return "empty or corrupt video"


def sample_video_frames(path, n: int) -> list[Frame]:
    """``n`` frames (fewer in a shorter video) evenly spread over a video, decoded one at a time and
    never more than 2n held (about n where the container's frame count is right): a minute of a
    phone's 4K video is 45 GB of frames. The count only sets the first stride: it can be missing or
    wrong, so every frame is read."""
    with VideoSource(path) as src:
        step = max(1, (src.frame_count or 0) // max(1, n))
        kept = []
        for f in src:
            if f.index % step == 0:
                kept.append(f)
                if len(kept) >= 2 * n:          # keep every other one and take half as many from here on
                    kept, step = kept[::2], 2 * step
    idx = np.linspace(0, len(kept) - 1, min(n, len(kept))).round().astype(int)
    return [kept[i] for i in idx]


def read_video_frames(path, every: int = 1, max_frames: int | None = None) -> list[Frame]:
    """All (or every n-th) frames of a video file, decoded into memory."""
    with VideoSource(path) as src:
        return [f for f in src if f.index % every == 0][: max_frames or None]
