"""The web page in a real headless Chromium, its camera fed from a y4m file of a live video."""
import contextlib
import os
import time
from pathlib import Path

import pytest

from browser_util import chrome, need_chromium, wait_for_verdict, write_y4m
from conftest import need_shared
from marginlive.challenge.session import SessionConfig
from marginlive.server.app import ServerConfig, create_app
from server_util import running

pytestmark = pytest.mark.slow


# (constant logit of the model, what the page says of the passive step): a sure model; one unsure
# of the face (P(real) 0.45, under the threshold, above the session's unsure floor)
PASSIVE = {"sure": (8.0, "step 1 passed"), "unsure": (-0.2, "liveness unsure: a few more actions")}


def _hand_asked_of_the_live_video(tmp_path, model):
    """(the camera's y4m of the webcam live video, an app serving ``model`` whose session asks one
    raised hand within 2 s): the video never raises a hand (a blink or smile it might do by chance),
    so the session ends rejected."""
    need_chromium()
    y4m = tmp_path / "live.y4m"
    assert write_y4m(need_shared("data", "videos", "live-1.webm"), y4m) > 30
    session = SessionConfig(n_challenges=1, challenge_timeout_s=2.0, retries=0, passive_min_frames=3,
                            passive_window=5, actions=("raise_right_hand", "raise_left_hand"))
    return y4m, create_app(ServerConfig(model=str(model), gallery=str(tmp_path / "g.db"), session=session))


@pytest.mark.parametrize("passive", PASSIVE)
def test_page_shows_instructions_and_reaches_a_verdict(tmp_path, tmp_path_factory, passive):
    from conftest import _constant_model
    logit, says = PASSIVE[passive]
    model = _constant_model(tmp_path_factory.mktemp("const") / f"{passive}.onnx", logit)
    y4m, app = _hand_asked_of_the_live_video(tmp_path, model)
    with running(app) as addr:
        driver = chrome(y4m)
        try:
            driver.get(f"http://{addr}/?autostart=1")
            verdict, seen, steps = wait_for_verdict(driver)
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


def test_the_instruction_is_a_live_region_written_and_spoken_only_when_it_changes(tmp_path, always_real_model):
    """A screen reader speaks a live region (role "status") each time it is written: the page writes
    the instruction when it changes, not with each of the server's answers (10 a second), so every
    write the page makes says something new. With *Read the instructions aloud* ticked the browser's
    speech says each of them once (recorded here in place of the voice); unticked, nothing."""
    y4m, app = _hand_asked_of_the_live_video(tmp_path, always_real_model)
    runs = []
    with running(app) as addr:
        driver = chrome(y4m)
        try:
            driver.get(f"http://{addr}/")
            role = driver.find_element("id", "instruction").aria_role
            driver.execute_script(
                "window.written = []; window.spoken = []; const el = document.getElementById('instruction');"
                "new MutationObserver(() => window.written.push(el.textContent))"
                ".observe(el, {childList: true, characterData: true, subtree: true});"
                "speechSynthesis.speak = (u) => window.spoken.push(u.text);")
            for aloud in (True, False):
                if driver.find_element("id", "speak").is_selected() != aloud:
                    driver.find_element("id", "speak").click()
                driver.execute_script("window.written = []; window.spoken = []; delete document.body.dataset.verdict;")
                driver.find_element("id", "start").click()
                verdict, _, _ = wait_for_verdict(driver)
                runs.append((verdict, *driver.execute_script("return [window.written, window.spoken]")))
            bar = driver.execute_script("const b = document.getElementById('bar');"
                                        "return [b.getAttribute('aria-valuenow'), b.firstElementChild.style.width]")
        finally:
            driver.quit()
    assert role == "status"
    (verdict, written, spoken), (verdict2, written2, spoken2) = runs
    assert verdict == verdict2 == "rejected" and len(written) >= 3, runs    # waiting, an action, the verdict
    assert all(a != b for a, b in zip(written, written[1:])), written
    assert spoken == written and len(written2) >= 3 and spoken2 == [], runs
    assert bar[1] == f"{bar[0]}%", bar


def test_page_keeps_sending_after_a_frame_the_server_cannot_read(tmp_path, always_real_model):
    """A frame the server refuses (here: every frame, above a tiny pixel budget) is answered with an
    error for that frame; the page shows it and sends the next, until the server closes the stream
    for too many bad frames, rather than stalling into the idle timeout."""
    need_chromium()
    y4m = tmp_path / "live.y4m"
    assert write_y4m(need_shared("data", "videos", "live-1.webm"), y4m, max_frames=40) > 30
    app = create_app(ServerConfig(model=str(always_real_model), gallery=str(tmp_path / "g.db"),
                                  max_frame_pixels=100_000))
    with running(app) as addr:
        driver = chrome(y4m)
        try:
            driver.get(f"http://{addr}/?autostart=1")
            verdict, seen, _ = wait_for_verdict(driver, timeout_s=30)
        finally:
            driver.quit()
    assert verdict == "closed" and "Too many unreadable frames: press Try again" in seen, (verdict, seen)
    assert any("above the limit of 100,000 pixels" in s for s in seen), seen


def test_a_page_on_an_allowed_origin_creates_a_session_in_a_real_browser(tmp_path, always_real_model):
    """Chromium, a page served from another port (another origin) that creates a session with a JSON
    body: allowed with --allow-origin (CORS preflight and answer), blocked by the browser without."""
    import functools
    import http.server
    import threading

    from server_util import free_port
    need_chromium()
    (tmp_path / "www").mkdir()
    page_port = free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *a: None
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    titles = {}
    try:
        for allowed in ((page_origin,), ()):
            app = create_app(ServerConfig(model=str(always_real_model), gallery=str(tmp_path / "g.db"),
                                          allowed_origins=allowed))
            with running(app) as addr:
                (tmp_path / "www" / "login.html").write_text(
                    "<script>fetch('http://" + addr + "/v1/sessions', {method: 'POST', headers: "
                    "{'content-type': 'application/json'}, body: JSON.stringify({nonce: 'n-1'})})"
                    ".then(r => r.json()).then(j => document.title = 'made ' + j.session_id)"
                    ".catch(e => document.title = 'blocked');</script>")
                driver = chrome(tmp_path / "unused.y4m")
                try:
                    driver.get(f"{page_origin}/login.html")
                    for _ in range(100):
                        if driver.title:
                            break
                        time.sleep(0.1)
                    titles[bool(allowed)] = driver.title
                finally:
                    driver.quit()
    finally:
        pages.shutdown()
    assert titles[True].startswith("made ") and len(titles[True]) > 10, titles
    assert titles[False] == "blocked", titles


@contextlib.contextmanager
def login_page(tmp_path, model, video: str, size=(640, 480)):
    """The login page, started, in a headless Chromium whose camera plays the shared ``video`` at
    ``size`` (width, height), against the app serving ``model``."""
    need_chromium()
    y4m = tmp_path / "camera.y4m"
    assert write_y4m(need_shared("data", "videos", video), y4m, max_frames=40, size=size) > 30
    app = create_app(ServerConfig(model=str(model), gallery=str(tmp_path / "g.db")))
    with running(app) as addr:
        driver = chrome(y4m)
        try:
            driver.get(f"http://{addr}/?autostart=1")
            yield driver
        finally:
            driver.quit()


def stage_shape(driver, unlike: list | None = None, timeout_s: float = 20.0) -> list:
    """[the camera's frame width, height, the stage's width, height] once the video has frames (and,
    given ``unlike``, frames of another size than it), or the last read after ``timeout_s``."""
    deadline, shape = time.time() + timeout_s, None
    while time.time() < deadline:
        shape = driver.execute_script(
            "const v = document.getElementById('video'), s = document.getElementById('stage')"
            ".getBoundingClientRect(); return [v.videoWidth, v.videoHeight, s.width, s.height];")
        if shape[0] and (unlike is None or shape[:2] != unlike[:2]):
            break
        time.sleep(0.2)
    return shape


def test_a_camera_whose_frames_are_not_4_by_3_gets_a_stage_of_their_shape(tmp_path, always_real_model):
    """A phone held upright (its camera 480x640; Chromium's fake camera, asked for 640x480, crops it to
    480x480): the stage takes the frames' shape, so the video is not letterboxed inside a 4:3 box while
    the overlay, stretched over that box, draws the face's box beside the face."""
    with login_page(tmp_path, always_real_model, "live-2.mp4", (480, 640)) as driver:
        shape = stage_shape(driver)
    vw, vh, sw, sh = shape
    assert vw and abs(vw / vh - 4 / 3) > 0.1, shape          # frames of another shape than 4:3
    assert abs(sw / sh - vw / vh) < 0.01, shape


def test_the_stage_follows_the_camera_when_its_frames_change_shape(tmp_path, always_real_model):
    """A phone turned mid-login turns its camera's picture: the stage (and the boxes drawn over it)
    takes the new shape, as it took the first (the shape changed here by the track's constraints)."""
    with login_page(tmp_path, always_real_model, "live-1.webm") as driver:
        before = stage_shape(driver)
        driver.execute_script("document.getElementById('video').srcObject.getVideoTracks()[0]"
                              ".applyConstraints({width: 360, height: 480})")
        stage_shape(driver, unlike=before)
        time.sleep(0.3)                            # the stage's new size laid out
        after = stage_shape(driver)
    assert abs(before[0] / before[1] - 4 / 3) < 0.01, before
    vw, vh, sw, sh = after
    assert abs(vw / vh - 4 / 3) > 0.1, after                  # the camera's frames changed shape
    assert abs(sw / sh - vw / vh) < 0.01, (before, after)


def test_a_camera_of_more_pixels_than_asked_sends_frames_the_server_takes(tmp_path, always_real_model):
    """A camera that ignores the 640x480 asked of it (here a 3840x2160 canvas as the video's source)
    has its frames scaled to 1280 px on their longer side before they are sent: a 4K JPEG at the
    page's quality would pass the server's 1 MB frame cap and end the stream."""
    need_chromium()
    app = create_app(ServerConfig(model=str(always_real_model), gallery=str(tmp_path / "g.db")))
    with running(app) as addr:
        driver = chrome(tmp_path / "unused.y4m")
        try:
            driver.get(f"http://{addr}/")
            size = driver.execute_async_script("""
                const done = arguments[arguments.length - 1];
                const c = document.createElement('canvas'); c.width = 3840; c.height = 2160;
                const g = c.getContext('2d');
                for (let i = 0; i < 4000; i++) {            // noise-like detail: a JPEG of many bytes
                  g.fillStyle = `hsl(${(i * 37) % 360}, 80%, ${30 + (i * 13) % 50}%)`;
                  g.fillRect((i * 97) % 3840, (i * 53) % 2160, 40, 40);
                }
                const v = document.getElementById('video');
                v.srcObject = c.captureStream(5);
                v.onloadeddata = async () => {
                  const blob = await frameBlob();
                  const bmp = await createImageBitmap(blob);
                  done([v.videoWidth, v.videoHeight, bmp.width, bmp.height, blob.size]);
                };
                v.play();""")
        finally:
            driver.quit()
    vw, vh, w, h, nbytes = size
    assert (vw, vh) == (3840, 2160) and (w, h) == (1280, 720), size
    assert nbytes < ServerConfig.max_frame_bytes, size


def test_a_server_gone_before_start_is_said_and_start_can_be_pressed_again(tmp_path, always_real_model):
    """The page loaded, then the server went away: pressing Start says it cannot be reached and
    leaves the button to try again, instead of a promise failing unseen and a button stuck disabled."""
    need_chromium()
    y4m = tmp_path / "live.y4m"
    assert write_y4m(need_shared("data", "videos", "live-1.webm"), y4m, max_frames=10) > 5
    app = create_app(ServerConfig(model=str(always_real_model), gallery=str(tmp_path / "g.db")))
    driver = chrome(y4m)
    try:
        with running(app) as addr:
            driver.get(f"http://{addr}/")
        driver.find_element("id", "start").click()
        deadline, state = time.time() + 15, None
        while time.time() < deadline:
            state = driver.execute_script("return [document.getElementById('instruction').textContent, "
                                          "document.getElementById('start').disabled];")
            if "cannot be reached" in state[0]:
                break
            time.sleep(0.2)
    finally:
        driver.quit()
    assert state == ["The server cannot be reached: try again", False], state


def test_a_server_that_stops_mid_login_is_said_and_the_login_can_be_tried_again(tmp_path, always_real_model):
    """The server stopped at once while the page streamed (the stream closed with 1012, no reason):
    the page says the service restarted and offers to try again, not a bare close code."""
    need_chromium()
    y4m = tmp_path / "live.y4m"
    assert write_y4m(need_shared("data", "videos", "live-1.webm"), y4m, max_frames=60) > 30
    session = SessionConfig(challenge_timeout_s=30.0, actions=("raise_right_hand",))     # a login that lasts
    app = create_app(ServerConfig(model=str(always_real_model), gallery=str(tmp_path / "g.db"), session=session))
    driver = chrome(y4m)
    try:
        with running(app) as addr:
            driver.get(f"http://{addr}/?autostart=1")
            deadline = time.time() + 30
            while "Raise your right hand" not in driver.find_element("id", "instruction").text:
                assert time.time() < deadline, "the login never reached its challenge"
                time.sleep(0.1)
        verdict, seen, _ = wait_for_verdict(driver, timeout_s=15)
        button = driver.find_element("id", "start")
        button_text, button_off = button.text, button.get_attribute("disabled")
    finally:
        driver.quit()
    assert verdict == "closed" and "The service restarted: press Try again" in seen, (verdict, seen)
    assert button_text == "Try again" and button_off is None


def test_the_enrolment_page_enrols_a_live_face_the_login_page_then_recognises(tmp_path, always_real_model):
    """/enrol: a wrong admin token is said and starts nothing; with the right one, the person at the
    camera passes liveness and the action (its landmarks scripted: the video raises no hand) and is
    enrolled from the session's best faces; then the login page recognises them by name."""
    from challenge_fakes import raising_right_hand
    need_chromium()
    y4m = tmp_path / "live.y4m"
    assert write_y4m(need_shared("data", "videos", "live-1.webm"), y4m, max_frames=90) > 30
    session = SessionConfig(n_challenges=1, challenge_timeout_s=5.0, retries=0, passive_min_frames=3,
                            passive_window=5, actions=("raise_right_hand",))
    app = create_app(ServerConfig(model=str(always_real_model), gallery=str(tmp_path / "g.db"), session=session,
                                  admin_token="admin-token-for-tests"))

    def raising_hand():
        app.state.ml.landmarker = raising_right_hand()

    def enrol(driver, token):
        driver.find_element("id", "name").send_keys("alice")
        driver.find_element("id", "token").send_keys(token)
        driver.find_element("id", "start").click()

    driver = chrome(y4m)
    try:
        with running(app) as addr:
            driver.get(f"http://{addr}/enrol")
            enrol(driver, "not-the-admin-token")
            deadline = time.time() + 15
            while "wrong admin token" not in (refused := driver.find_element("id", "instruction").text):
                assert time.time() < deadline, refused
                time.sleep(0.1)
            driver.get(f"http://{addr}/enrol")
            raising_hand()
            enrol(driver, "admin-token-for-tests")
            verdict, enrolled, _ = wait_for_verdict(driver, timeout_s=60)
            raising_hand()
            driver.get(f"http://{addr}/?autostart=1")
            login, seen, _ = wait_for_verdict(driver, timeout_s=60)
            listed = app.state.ml.gallery_list()
    finally:
        driver.quit()
    assert refused == "wrong admin token", refused
    assert verdict == "accepted" and "Enrolled as alice (5 faces)" in enrolled, (verdict, enrolled)
    assert [(i["name"], i["embeddings"]) for i in listed] == [("alice", 5)]
    assert login == "accepted" and "Accepted as alice" in seen, (login, seen)
