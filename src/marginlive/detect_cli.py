"""`marginlive detect`: annotate images, videos and a webcam with liveness boxes."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from ._util import atomic_path, emit_json, progress
from .errors import InputError, NoFaceError
from .frames import VideoSource, expand_paths, grayscale_faces, kind_of, read_image
from .orientation import turn
from .render import draw_results
from .tracking import TrackVerdict

VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def _is_folder(save: str) -> bool:
    """``--save`` names a folder: one there already, or a path ending in a separator (``out/``)."""
    return save.endswith(("/", os.sep)) or Path(save).is_dir()


def output_path(save: str | None, name: str, kind: str, many: bool = False) -> Path | None:
    """Where the annotated copy of input ``name`` (a file's path, or ``camera-N``) goes: ``save``
    itself, or ``NAME.marginlive.EXT`` inside it where it is a folder, as it is for ``many`` inputs
    (checked before any frame is read)."""
    if not save:
        return None
    out, video = Path(save), kind == "video"
    if many or _is_folder(save):
        src = Path(name)
        # a picture OpenCV cannot write back (GIF, AVIF, HEIC) is drawn as PNG
        ext = ".mp4" if video else src.suffix if cv2.haveImageWriter(f"x{src.suffix}") else ".png"
        out = out / f"{src.stem}.marginlive{ext}"
    if not video and not cv2.haveImageWriter(str(out)):
        what = f"a {out.suffix} file" if out.suffix else "a file without an extension"
        raise InputError(f"{out}: cannot write the image as {what}: name a .jpg or .png file, or a folder (out/)")
    if video and out.suffix.lower() not in VIDEO_FOURCC:
        raise InputError(f"{out}: video output must end in .mp4, .avi, .mov or .mkv")
    return out


def run_detect(a) -> int:
    """`marginlive detect`: label every face of each picture, video or the camera; exit 0, or the error
    code of an unreadable input (2) or a source without a face (3)."""
    from .pipeline import LivenessDetector

    if a.camera is None and not a.paths:
        raise InputError("give image/video paths or --camera N")
    if a.camera is not None and a.paths:
        raise InputError("give either paths or --camera, not both")
    sources = expand_paths(a.paths) if a.paths else []
    many = len(sources) > 1
    if a.save and many and Path(a.save).exists() and not Path(a.save).is_dir():
        raise InputError(f"--save {a.save}: with several inputs, --save must be a folder")
    outs = {src: output_path(a.save, str(src), kind_of(src), many) for src in sources}
    det = LivenessDetector(model=a.model, detector=a.detector, detector_model=a.detector_model,
                           margin=a.margin, threshold=a.threshold)
    if a.camera is not None:
        return _run_video(det, VideoSource(camera=a.camera, max_frames=a.max_frames), a,
                          output_path(a.save, f"camera-{a.camera}", "video"))
    faceless, failed = [], []
    for src in sources:
        kind = kind_of(src)
        out = outs[src]
        try:
            if kind == "video":
                n = _run_video(det, VideoSource(src, max_frames=a.max_frames), a, out)
            else:
                n = _run_image(det, src, a, out)
        except InputError as e:
            if not many:
                raise
            print(f"marginlive detect: error: {e}", file=sys.stderr)
            failed.append(src)
            continue
        if n == 0:
            print(f"marginlive detect: no face found in {src}{FAR_HINT if a.detector == 'blazeface' else ''}",
                  file=sys.stderr)
            faceless.append(src)
    if failed:
        return InputError.exit_code
    if faceless:
        return NoFaceError.exit_code
    return 0


# BlazeFace short range (the default) finds faces from about a tenth of the picture's width: a face
# 90 px wide in a 1280x720 photo is not looked for (measured: the full-range model finds it)
FAR_HINT = (" (the default detector looks for faces at least about a tenth of the picture wide: crop the "
            "picture around a smaller one, or try --detector mediapipe-full)")


def _grayscale_faces(name, frame, results, warn: bool) -> list[bool]:
    """``grayscale_faces`` of one frame's ``results``; with ``warn``, a warning on stderr where one
    is (the model reads colour: such a score is not reliable)."""
    flags = grayscale_faces(frame, results)
    if warn and any(flags):
        print(f"marginlive detect: warning: {name}: a grayscale picture (an infrared or black-and-white camera); "
              "the model reads colour, so its scores here are not reliable", file=sys.stderr)
    return flags


def _run_image(det, src: Path, a, out: Path | None) -> int:
    img = read_image(src)
    results = det.predict(img)
    # Boxes are in the frame as turned upright; draw them there.
    upright = turn(img, results[0].turned // 90) if results else img
    grey = _grayscale_faces(src, img, results, warn=True)
    if a.json:
        for i, r in enumerate(results):
            emit_json({"source": str(src), "frame": 0, "time": 0.0, "face": i, **r.to_dict(), "grayscale": grey[i]})
    elif not a.show:
        for r in results:
            print(f"{src}\t{r.label}\t{r.score:.3f}\t{r.box.as_list()}")
    vis = draw_results(upright, results) if (out or a.show) else None
    if out:
        with atomic_path(out) as tmp:
            if not cv2.imwrite(str(tmp), vis):
                raise InputError(f"{out}: cannot write an image with this extension")
    if a.show:
        cv2.imshow("marginlive", vis)
        cv2.waitKey(0)
    return len(results)


def _run_video(det, src: VideoSource, a, out: Path | None) -> int:
    faces, turned, checked = 0, 0, False
    tracks: dict[int, list[float]] = {}   # per track, its frames' P(real)
    with src, _VideoWriter(out, src.fps) as writer:
        bar = progress(total=src.frame_count, desc=Path(src.name).name, unit="frame",
                       disable=True if src.is_camera or src.frame_count is None else None)
        for frame, results in det.process(src):
            bar.update(1)
            faces += len(results)
            turned = results[0].turned if results else turned   # a faceless frame keeps the turn
            # a source is in colour or not: its first face says so on stderr, --json says it per face
            grey = (_grayscale_faces(src.name, frame.image, results, warn=not checked)
                    if results and (a.json or not checked) else [])
            checked = checked or bool(results)
            for i, r in enumerate(results):
                if r.counted:
                    tracks.setdefault(r.track_id, []).append(r.frame_score)
                if a.json:
                    emit_json({"source": src.name, "frame": frame.index, "time": round(frame.time, 3),
                               "face": i, **r.to_dict(), "grayscale": grey[i]})
            if writer.active or a.show:
                vis = draw_results(turn(frame.image, turned // 90), results)
                writer.write(vis)
                if a.show:
                    cv2.imshow("marginlive", vis)
                    if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                        break
        bar.close()
    for tid, scores in sorted(tracks.items()):
        v = TrackVerdict.of(scores, det.threshold)
        if a.json:    # after its frames: the line with a "verdict" is the video's decision on that face
            emit_json({"source": src.name, "track": tid, "verdict": v.label, "mean": round(v.mean, 4),
                       "share": round(v.share, 4), "frames": v.frames, "threshold": det.threshold})
        else:
            print(f"{src.name}\ttrack {tid}\t{v.label}\t{v.mean:.3f}\t{v.share:.0%} of {v.frames} frames at or above "
                  f"{det.threshold:g}")
    return faces


class _VideoWriter:
    """Writes frames to a temporary file, moved into place only when the video is complete."""

    def __init__(self, path: Path | None, fps: float):
        self.path, self.fps, self.w = path, fps, None
        self._ctx = atomic_path(path) if path else None
        self.active = path is not None

    def __enter__(self):
        if self._ctx:
            self.tmp = self._ctx.__enter__()
        return self

    def write(self, img):
        if not self.active:
            return
        if self.w is None:
            fourcc = VIDEO_FOURCC[self.path.suffix.lower()]   # output_path checked it
            h, w = img.shape[:2]
            self.w = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*fourcc), self.fps, (w, h))
            if not self.w.isOpened():
                raise InputError(f"{self.path}: cannot open a video writer")
            self.size = (w, h)
        if (img.shape[1], img.shape[0]) != self.size:   # the video turned upright mid-way
            img = letterbox(img, self.size)
        self.w.write(img)

    def __exit__(self, et, ev, tb):
        if self.w is not None:
            self.w.release()
        if self._ctx:
            if et is None and self.w is None:  # nothing was written: leave no empty file
                et, ev = InputError, InputError(f"{self.path}: no frame to write")
            try:
                self._ctx.__exit__(et, ev, tb)  # moves into place, or removes on error
            except InputError:
                pass
        return False


def letterbox(img, size: tuple[int, int]):
    """``img`` scaled to fit inside ``size`` (width, height), aspect kept, on black."""
    w, h = size
    s = min(w / img.shape[1], h / img.shape[0])
    nw, nh = max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))
    out = np.zeros((h, w, 3), np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out
