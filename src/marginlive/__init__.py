"""marginlive: margin-based face liveness detection with behavioural confirmation.

Three lines to a decision::

    from marginlive import LivenessDetector, read_image
    detector = LivenessDetector()                 # shipped model + BlazeFace
    results = detector.predict(read_image("me.jpg"))  # list[FaceResult]

and who it is (the `identity` extra): ``enroll``, ``identify`` and ``verify`` (``identity/api.py``).
"""
import os as _os

# ONNX Runtime sends telemetry on import unless told not to; set before any import of it.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# Quiet TensorFlow-Lite / absl logging from MediaPipe.
_os.environ.setdefault("GLOG_minloglevel", "2")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .errors import (  # noqa: E402
    CameraError, DatasetError, IdentityConflict, InputError, MarginliveError, ModelError, NoFaceError,
)
from .types import FaceBox, FaceResult  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CameraError", "DatasetError", "FaceBox", "FaceResult", "IdentityConflict", "IdentityOptions", "InputError",
    "LivenessDetector", "MarginliveError", "ModelError", "NoFaceError", "enroll", "identify", "read_image", "verify",
    "__version__",
]
_IDENTITY = ("IdentityOptions", "enroll", "identify", "verify")


def __getattr__(name):  # lazy: importing the package loads no OpenCV, ONNX Runtime or MediaPipe
    if name == "LivenessDetector":
        from .pipeline import LivenessDetector
        return LivenessDetector
    if name == "read_image":
        from .frames import read_image
        return read_image
    if name in _IDENTITY:
        from .identity import api
        return getattr(api, name)
    raise AttributeError(name)
