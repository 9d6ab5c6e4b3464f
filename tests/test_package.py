"""The package installs anywhere: a wheel built from the checkout holds the shipped model, the page
and the licences, and runs from outside the checkout (no path into the source tree); the passive
check installs without MediaPipe on a Python MediaPipe 0.10.21 has no wheel for, and a command that
needs an extra says which."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import pytest

from conftest import blank, need_shared
from marginlive.cli import main

ROOT = Path(__file__).resolve().parents[1]
NETWORK_TROUBLE = ("Failed to establish a new connection", "Temporary failure in name resolution",
                   "Could not fetch URL", "Network is unreachable")


@pytest.mark.slow
def test_wheel_carries_the_model_and_runs_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("marginlive-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("marginlive/weights/marginlive-default.onnx", "marginlive/weights/LICENSE-silentface",
                 "marginlive/weights/blazeface-short-range.onnx", "marginlive/weights/LICENSE-blazeface",
                 "marginlive/server/static/index.html", "marginlive/server/static/app.js"):
        assert want in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import marginlive, numpy as np; from marginlive.liveness.runtime import LivenessModel, default_model_path;"
            "p = default_model_path(); m = LivenessModel(); print(p); print(m.name);"
            "from marginlive.detect import create_detector; assert create_detector().detect(np.zeros((240, 320, 3), np.uint8)) == []")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MARGINLIVE_MODEL")}
    env["PYTHONPATH"] = str(site)   # the unpacked wheel first, the venv's packages for the dependencies
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    path, name = r.stdout.split()
    assert Path(path).is_relative_to(site) and name == "marginlive-default"


def _newer_python() -> str | None:
    """A Python 3.13 or later that runs on this machine (pyenv's versions, then PATH), or None."""
    candidates = sorted(map(str, (Path.home() / ".pyenv" / "versions").glob("3.1[3-9]*/bin/python")), reverse=True)
    candidates += [p for p in map(shutil.which, ("python3.14", "python3.13")) if p]
    for python in candidates:
        r = subprocess.run([python, "-c", "import sys; print(sys.version_info >= (3, 13))"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0 and r.stdout.strip() == "True":   # a pyenv shim of a version not selected fails
            return python
    return None


@pytest.mark.slow
def test_the_passive_check_installs_and_runs_on_a_python_mediapipe_does_not_support(tmp_path):
    """`pip install marginlive` on Python 3.13 (no MediaPipe wheel there, numpy 2): the default
    detector and model score the shared videos right; the challenge says which extra it needs."""
    live, replay = need_shared("data", "videos", "live-2.mp4"), need_shared("data", "videos", "replay-2.mp4")
    python = _newer_python()
    if python is None:
        pytest.skip("no Python 3.13 or later on this machine (PATH or ~/.pyenv/versions)")
    subprocess.run([python, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    bin_ = tmp_path / "venv" / "bin"
    r = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode and any(t in r.stderr for t in NETWORK_TROUBLE):
        pytest.skip(f"the package index is out of reach: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MARGINLIVE_MODEL")}
    run = lambda *args: subprocess.run([str(bin_ / "marginlive"), *args], cwd=tmp_path, env=env,   # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    r = run("detect", str(live), str(replay))
    assert r.returncode == 0, r.stderr
    verdicts = [line.split("\t")[2] for line in r.stdout.splitlines()]
    assert verdicts == ["real", "fake"]
    r = run("authenticate", str(live))
    assert r.returncode == 2 and "pip install 'marginlive[challenge]'" in r.stderr and "Traceback" not in r.stderr


def test_a_command_whose_extra_is_missing_names_it(tmp_path, capsys, monkeypatch):
    """Without MediaPipe (the challenge extra), a command that needs it prints what to install and on
    which Pythons, one line and no traceback, exit 2."""
    for mod in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "mediapipe", None)    # import mediapipe now raises ModuleNotFoundError
    image = tmp_path / "grey.png"
    cv2.imwrite(str(image), blank())
    rc = main(["detect", "--detector", "mediapipe", str(image)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "pip install 'marginlive[challenge]'" in err and "Python 3.11 or 3.12" in err


def test_the_readmes_python_block_runs_as_written(tmp_path):
    """The README's Python quick start, run as a newcomer would: its file names stand for a live frame, a
    live video and another frame of the same person; the gallery is a fresh one ($MARGINLIVE_GALLERY)."""
    import re
    video = need_shared("data", "videos", "live-1.webm")
    from marginlive.frames import read_video_frames
    frames = read_video_frames(video, every=60)
    cv2.imwrite(str(tmp_path / "me.jpg"), frames[1].image)
    cv2.imwrite(str(tmp_path / "someone.jpg"), frames[-1].image)
    (tmp_path / "alice.mp4").symlink_to(video)          # the name the README uses; a WebM inside
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    env = {**os.environ, "MARGINLIVE_GALLERY": str(tmp_path / "gallery.db"), "ORT_DISABLE_TELEMETRY": "1"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("real ") and lines[-1] == "True", r.stdout
