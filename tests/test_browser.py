"""The web page in a real headless Chromium, its camera fed from a y4m file of a live video."""
import os
import shutil
import time
from pathlib import Path

import cv2
import pytest

from conftest import need_shared
from marginlive.challenge.session import SessionConfig
from marginlive.server.app import ServerConfig, create_app
from server_util import running

pytestmark = pytest.mark.slow


def chromium():
    for b in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(b):
            return shutil.which(b)
    return None


def write_y4m(video: Path, out: Path, max_frames=150):
    """YUV4MPEG2 (I420) from a video, for Chromium's --use-file-for-fake-video-capture."""
    cap = cv2.VideoCapture(str(video))
    with open(out, "wb") as fh:
        fh.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        n = 0
        while n < max_frames:
            ok, f = cap.read()
            if not ok:
                break
            f = cv2.resize(f, (640, 480))
            fh.write(b"FRAME\n" + cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420).tobytes())
            n += 1
    return n


# (constant logit of the model, what the page says of the passive step): a sure model; one unsure
# of the face (P(real) 0.45, under the threshold, above the session's unsure floor)
PASSIVE = {"sure": (8.0, "step 1 passed"), "unsure": (-0.2, "liveness unsure: a few more actions")}


@pytest.mark.parametrize("passive", PASSIVE)
def test_page_shows_instructions_and_reaches_a_verdict(tmp_path, tmp_path_factory, passive):
    from conftest import _constant_model
    logit, says = PASSIVE[passive]
    model = _constant_model(tmp_path_factory.mktemp("const") / f"{passive}.onnx", logit)
    if not chromium() or not shutil.which("chromedriver"):
        pytest.skip("needs Debian's chromium and chromium-driver (make test installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    y4m = tmp_path / "live.y4m"
    assert write_y4m(need_shared("data", "videos", "live-1.webm"), y4m) > 30
    # the live video never raises a hand (a blink or smile it might do by chance)
    session = SessionConfig(n_challenges=1, challenge_timeout_s=2.0, retries=0, passive_min_frames=3,
                            passive_window=5, actions=("raise_right_hand", "raise_left_hand"))
    app = create_app(ServerConfig(model=str(model), gallery=str(tmp_path / "g.db"), session=session))
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={y4m}", "--window-size=800,900"):
        opts.add_argument(arg)
    with running(app) as addr:
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
        try:
            driver.get(f"http://{addr}/?autostart=1")
            seen, steps, verdict = set(), set(), None
            deadline = time.time() + 90
            while time.time() < deadline:
                seen.add(driver.find_element("id", "instruction").text)
                steps.add(driver.find_element("id", "steps").text)
                verdict = driver.execute_script("return document.body.dataset.verdict || null")
                if verdict:
                    break
                time.sleep(0.1)
            shot = Path(os.environ.get("MARGINLIVE_SCREENSHOT", tmp_path / "page.png"))
            shot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(shot))
            final = driver.find_element("id", "instruction").text
            token = driver.find_element("id", "verdict").text
        finally:
            driver.quit()
    assert verdict == "rejected", (verdict, seen)         # the video does not perform the action
    actions = {"Raise your right hand", "Raise your left hand"}
    assert seen & actions, seen                              # an instruction was shown
    assert any(t.startswith(says) for t in steps), steps     # and what the passive step decided
    assert final.startswith("Rejected") and token.startswith("signed verdict: ")
    assert shot.stat().st_size > 10_000
