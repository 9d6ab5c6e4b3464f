"""The authentication stream: ``/v1/sessions/{id}/stream``.

Messages
  client -> server   binary: one JPEG (or PNG, WebP) frame, at most a 4K camera's pixels; text "end": the user gave up
  server -> client   JSON per frame: {"seq", "state", "instruction", "progress", "face", ...}, the
                     face's box and label but no score (``UNSAID``);
                     {"seq", "error"} for a frame that could not be read or a text message
                     other than "end" (``max_bad_frames`` of them close the stream);
                     {"seq", "skipped"} for a frame beyond the stream's ``max_fps`` (not decoded,
                     not counted against it); the last adds
                     "verdict" (the signed token) and "log" (and, where an enrolment session enrolled,
                     "enrolled" and "faces"), then the server closes (1000).
Closes without a verdict: 4403 (origin not allowed, or another client's session), 4404
(unknown), 4409 (already used), 4410 (expired), 4429 (locked out after failed attempts), 1013
(Redis or the gallery cannot be reached: try again), 1011 (the server cannot read its gallery: the log says why);
1009 (frame too large) and 1003 (too many bad frames) close with a rejection.
A stream that sends no frame for ``idle_timeout_s`` ends with a rejected verdict whose reason
starts with "timeout".
"""
from __future__ import annotations

import logging
import time

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..challenge.session import ACCEPTED, REJECTED
from ..errors import InputError, MarginliveError, UnavailableError
from .security import origin_allowed
from .uploads import decode_upload

router = APIRouter()
log = logging.getLogger("marginlive")
# a session the server cannot decide for a fault of its own (its gallery unreadable: a broken schema, a
# corrupt file); the client is not told where the gallery is or what broke
CANNOT_DECIDE = "the service cannot decide this session now (its gallery cannot be read); try again later"


@router.websocket("/v1/sessions/{sid}/stream")
async def stream(ws: WebSocket, sid: str):
    svc = ws.app.state.ml
    if not origin_allowed(ws.headers, svc.cfg.allowed_origins):
        await ws.close(code=4403, reason="origin not allowed")    # before accept: the handshake fails (403)
        return
    await ws.accept()
    svc.streams_open += 1      # a stop waits for it (drain.py); one event loop: no lock needed
    try:
        await _claimed(ws, svc, sid)
    except WebSocketDisconnect:
        pass    # the client left while it was answered (anyone may): its session failed in _claimed
    finally:
        svc.streams_open -= 1


async def _claimed(ws: WebSocket, svc, sid: str):
    """Claim session ``sid`` for this client, run it to its verdict, fail it if the stream ends first."""
    try:
        e, problem = svc.claim(sid, svc.client(ws))
    except UnavailableError as err:
        problem = (1013, str(err))
    if problem:
        return await _close(ws, *problem)
    session = await anyio.to_thread.run_sync(svc.new_session, e)    # it may read the gallery
    try:
        await _run(ws, svc, e, session)
    except UnavailableError as err:     # Redis or the gallery is down: no verdict can be kept
        await _close(ws, 1013, str(err))
    except MarginliveError as err:      # the server's own fault (a gallery it cannot read): the log names it
        log.error("marginlive: session %s ended without a decision: %s", e.id, err)
        await _close(ws, 1011, CANNOT_DECIDE)
    finally:   # a stream that drops or is closed for bad frames fails, and counts as a failure
        if not session.done:
            session.finish(0.0, "the stream ended before a decision")
        try:
            svc.finish(e, session, session.state)
        except UnavailableError:
            pass                        # said above, or to nobody: the stream had already dropped


async def _close(ws: WebSocket, code: int, msg: str):
    """End a stream without a verdict: its reason as the last message, then the close code."""
    await ws.send_json({"error": msg})
    await ws.close(code=code, reason=msg)


class FrameBudget:
    """A token bucket of frames: ``rate`` a second on average, up to a second's worth at once, so
    that a client sending at or below the rate never has a frame skipped."""

    def __init__(self, rate: float, now: float):
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate)      # a second's worth, one frame at least
        self.tokens, self.t = self.capacity, now

    def take(self, now: float) -> bool:
        """Whether a frame arriving at ``now`` (s) may be scored (and then counts against the budget)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


async def _run(ws: WebSocket, svc, e, session):
    cfg = svc.cfg
    t0, seq, bad = time.monotonic(), 0, 0
    budget = FrameBudget(cfg.max_fps, t0)
    while True:
        try:
            with anyio.fail_after(cfg.idle_timeout_s):
                msg = await ws.receive()
        except TimeoutError:
            status = session.finish(time.monotonic() - t0, f"timeout: no frame for {cfg.idle_timeout_s:g} s")
            return await _final(ws, svc, e, session, status, seq)
        if msg["type"] == "websocket.disconnect":
            return
        data = msg.get("bytes")
        if data is None and (msg.get("text") or "").strip() == "end":
            status = session.finish(time.monotonic() - t0, "client ended the session")
            return await _final(ws, svc, e, session, status, seq)
        if data is not None:
            seq += 1
            if len(data) > cfg.max_frame_bytes:
                await ws.send_json({"seq": seq, "error": f"frame larger than {cfg.max_frame_bytes} bytes"})
                return await ws.close(code=1009, reason="frame too large")
            if not budget.take(time.monotonic()):
                await ws.send_json({"seq": seq, "skipped": f"more than {cfg.max_fps:g} frames a second: "
                                                           "this one was not scored"})
                continue
        status = await _scored(svc, session, data, time.monotonic() - t0)
        if isinstance(status, str):          # not a frame: counted, so that no stream stays open on them
            bad += 1
            await ws.send_json({"seq": seq, "error": status})
            if bad >= cfg.max_bad_frames:
                return await ws.close(code=1003, reason="too many unreadable frames")
            continue
        if status.state in (ACCEPTED, REJECTED):
            return await _final(ws, svc, e, session, status, seq)
        await ws.send_json({"seq": seq, **for_client(status)})


# What the client is not told: a score for each frame would let an attacker tune a replay (its
# angle, distance, light) until it passes, and an identity distance would guide a morph. The page
# needs the box and the label (blue or red). The verdict (readable by the client) names the identity
# only; its distance and margin stay in the session's record for the relying party's redemption.
UNSAID = frozenset({"score", "frame_score", "detector_score", "distance", "margin"})


def _said(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in UNSAID}


def for_client(status) -> dict:
    """A session ``Status`` as a stream message: its face without scores (``UNSAID``)."""
    d = status.to_dict()
    if d.get("face"):
        d["face"] = _said(d["face"])
    return d


async def _scored(svc, session, data: bytes | None, t: float):
    """The session's status after frame ``data`` (``t`` s into the stream), or why it is not a frame
    (a text message, an undecodable image)."""
    if data is None:
        return "send frames as binary JPEG messages"
    try:
        return await anyio.to_thread.run_sync(_step, session, data, t, svc.cfg.max_frame_pixels, limiter=svc.limiter)
    except InputError as err:
        return str(err)


def _step(session, data: bytes, t: float, max_pixels: int):
    """Decode one frame and advance the session (in a worker thread)."""
    return session.update(decode_upload(data, "frame", max_pixels), t)


async def _final(ws: WebSocket, svc, e, session, status, seq: int):
    token = svc.finish(e, session, status.state)
    events = [_said(event) for event in session.log]
    # an enrolment session that enrolled: the name, and the faces it added
    done = {"enrolled": e.enrol, "faces": session.decision.probes} if e.enrol and status.state == ACCEPTED else {}
    await ws.send_json({"seq": seq, **for_client(status), "verdict": token, "log": events, **done})
    await ws.close(code=1000)
