// marginlive web client: camera -> JPEG frames over a WebSocket -> state, instruction, verdict.
// The login page (/) and the enrolment page (/enrol, whose form holds a name and the admin token).
"use strict";
const video = document.getElementById("video");
const overlay = document.getElementById("overlay");
const instruction = document.getElementById("instruction");
const steps = document.getElementById("steps");
const bar = document.querySelector("#bar > div");
const startBtn = document.getElementById("start");
const verdictEl = document.getElementById("verdict");
const grab = document.createElement("canvas");
const enrolForm = document.getElementById("enrol");
const speakBox = document.getElementById("speak");
const FPS = 10;
// the longest side of a frame sent: a camera that ignores the 640x480 asked of it (1080p, 4K) would
// otherwise send JPEGs past the server's 1 MB frame cap, which ends the stream
const MAX_SIDE = 1280;

// the instruction is a live region (role="status"): a screen reader speaks it whenever it is written,
// so it is written only when it changes, not with each of the server's 10-15 answers a second
function show(text, cls) {
  if (instruction.textContent !== text) {
    instruction.textContent = text;
    say(text);
  }
  instruction.className = cls || "";
}

// spoken aloud where the user asks (the browser's own voices, nothing leaves the machine): an action
// turns the head from the screen or closes the eyes, and the next instruction is heard, not read.
// A new instruction cuts off the one still being spoken
function say(text) {
  if (!speakBox || !speakBox.checked || !window.speechSynthesis) return;
  speechSynthesis.cancel();
  speechSynthesis.speak(new SpeechSynthesisUtterance(text));
}

function progress(p) {
  const pct = Math.round(100 * (p || 0));
  bar.style.width = pct + "%";
  bar.parentElement.setAttribute("aria-valuenow", String(pct));
}

function drawFace(face, state) {
  const ctx = overlay.getContext("2d");
  overlay.width = grab.width || video.videoWidth || 640;     // the box is in the pixels of the frame sent
  overlay.height = grab.height || video.videoHeight || 480;
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!face) return;
  const [x1, y1, x2, y2] = face.box;
  const colour = face.label === "real" ? "#1e5eff" : face.label === "fake" ? "#ff2020" : "#aaaaaa";
  ctx.lineWidth = 4;
  ctx.strokeStyle = colour;
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
}

async function openCamera() {
  // the front camera on a phone or tablet (a preference: a laptop's only webcam is taken whichever way it faces)
  const stream = await navigator.mediaDevices.getUserMedia(
    { video: { width: 640, height: 480, facingMode: "user" }, audio: false });
  video.srcObject = stream;
  await new Promise((r) => (video.readyState >= 2 ? r() : (video.onloadeddata = r)));
  // the stage takes the camera's shape (a phone held upright gives 480x640): the video fills it as the
  // overlay does, so the boxes drawn in the camera's pixels sit on the face; again whenever the shape
  // changes (a phone turned mid-session: its picture turns with it)
  const fit = () => {
    document.getElementById("stage").style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  };
  fit();
  video.addEventListener("resize", fit);
}

function frameBlob() {
  const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);   // unmirrored, as the camera sees it
  // high quality: heavy JPEG compression smooths the fine texture the liveness model reads and
  // makes live faces look less live (docs/generalisation.md, "JPEG frames")
  return new Promise((r) => grab.toBlob(r, "image/jpeg", 0.95));
}

async function run() {
  startBtn.disabled = true;
  verdictEl.textContent = "";
  try {
    if (!video.srcObject) await openCamera();
  } catch (e) {
    show("Camera not available: " + e.message, "rejected");
    startBtn.disabled = false;
    return;
  }
  if (enrolForm && !enrolForm.reportValidity()) {   // a name and the token typed in first
    startBtn.disabled = false;
    return;
  }
  let res, info;
  try {
    res = await fetch("/v1/sessions", sessionRequest());
    info = await res.json();
  } catch (e) {                                  // the server cannot be reached, or answered no JSON
    info = { detail: "The server cannot be reached: try again" };
  }
  if (!res || !res.ok) {
    show(info.detail || "Could not start a session", "rejected");
    startBtn.disabled = false;
    return;
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + info.stream);
  ws.binaryType = "arraybuffer";
  let last = 0, done = false;

  async function sendNext() {
    if (done || ws.readyState !== WebSocket.OPEN) return;
    const wait = Math.max(0, 1000 / FPS - (performance.now() - last));
    setTimeout(async () => {
      last = performance.now();
      const blob = await frameBlob();
      if (!blob) return sendNext();              // no picture from the camera yet: try the next one
      if (ws.readyState === WebSocket.OPEN) ws.send(await blob.arrayBuffer());
    }, wait);
  }

  ws.onopen = sendNext;
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.skipped) { sendNext(); return; }       // sent faster than the server scores a stream: the next
    if (m.error && !m.state) {                   // a frame the server could not read: send the next
      show(m.error, m.seq ? "" : "rejected");    // without a seq: the session ends, the socket closes
      if (m.seq) sendNext();
      return;
    }
    drawFace(m.face, m.state);
    const passed = [];
    if (m.more_actions) passed.push("liveness unsure: a few more actions");
    else if (m.state === "challenge" || m.state === "identify" || m.state === "accepted") passed.push("step 1 passed");
    if (m.state === "identify" || m.state === "accepted") passed.push("step 2 passed");
    const stepText = passed.join(" · ") + (m.steps ? `  (action ${m.step}/${m.steps})` : "");
    if (steps.textContent !== stepText) steps.textContent = stepText;
    progress(m.progress);
    document.body.dataset.state = m.state;
    if (m.state === "accepted" || m.state === "rejected") {
      done = true;
      show(m.enrolled ? `Enrolled as ${m.enrolled} (${m.faces} faces)` : m.instruction, m.state);
      document.body.dataset.verdict = m.state;
      verdictEl.textContent = m.verdict ? "signed verdict: " + m.verdict : "";
      startBtn.disabled = false;
      startBtn.textContent = "Try again";
    } else {
      show(m.instruction);
      sendNext();
    }
  };
  ws.onclose = (ev) => {
    if (!done) {
      // the server's own reason where it gave one; else what the close code means to the user
      const said = ev.reason || CLOSED[ev.code] || "connection closed (" + ev.code + ")";
      show(said.charAt(0).toUpperCase() + said.slice(1) + ": press Try again", "rejected");
      document.body.dataset.verdict = "closed";
      startBtn.disabled = false;
      startBtn.textContent = "Try again";
    }
  };
}

// a login's session: bound to nothing; an enrolment's: the name, with the admin token (kept in the
// form only: never in the address, the page's storage or a cookie)
function sessionRequest() {
  if (!enrolForm) return { method: "POST" };
  const name = document.getElementById("name").value.trim();
  const token = document.getElementById("token").value;
  return { method: "POST", body: JSON.stringify({ enrol: name }),
           headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token } };
}

// close codes without a reason: the network dropped the stream, or the server stopped at once
const CLOSED = { 1006: "the connection dropped", 1012: "the service restarted" };

startBtn.addEventListener("click", run);
if (!enrolForm && new URLSearchParams(location.search).has("autostart")) run();
