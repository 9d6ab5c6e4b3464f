"""A real headless Chromium for the page tests: where it is, its options with a fake camera, and
the camera's y4m file made from a video."""
import shutil
import time
from pathlib import Path

import cv2
import pytest


def chromium():
    for b in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(b):
            return shutil.which(b)
    return None


def need_chromium():
    if not chromium() or not shutil.which("chromedriver"):
        pytest.skip("needs Debian's chromium and chromium-driver (make test installs them as root)")


def write_y4m(video: Path, out: Path, max_frames=150, size=(640, 480)):
    """YUV4MPEG2 (I420) from a video, each frame resized to ``size`` (width, height), for Chromium's
    --use-file-for-fake-video-capture."""
    cap = cv2.VideoCapture(str(video))
    with open(out, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n".encode())
        n = 0
        while n < max_frames:
            ok, f = cap.read()
            if not ok:
                break
            f = cv2.resize(f, size)
            fh.write(b"FRAME\n" + cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420).tobytes())
            n += 1
    return n


def chrome(y4m: Path, *extra: str):
    """A headless Chromium (selenium) whose camera plays ``y4m``; ``extra``: more switches."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={y4m}", "--window-size=800,900", *extra):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def wait_for_verdict(driver, timeout_s: float = 90.0) -> tuple[str | None, set, set]:
    """Poll the page until it shows a verdict: (verdict or None, instructions seen, step texts seen)."""
    seen, steps, verdict = set(), set(), None
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        verdict = driver.execute_script("return document.body.dataset.verdict || null")
        # the texts read after the verdict: the page's last words come with it
        seen.add(driver.find_element("id", "instruction").text)
        steps.add(driver.find_element("id", "steps").text)
        if verdict:
            break
        time.sleep(0.1)
    return verdict, seen, steps
