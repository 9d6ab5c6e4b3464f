"""Reading request bodies: a byte cap and a time limit on every body, images as raw bytes or as
one file of a multipart form, small JSON objects; decoding off the event loop."""
from __future__ import annotations

import json

import anyio
from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect

from ..errors import InputError, TooLargeError
from ..frames import decode_image

JSON_CAP = 8 * 1024   # bytes: a session request or a verdict to verify is far smaller


def is_truncated_jpeg(data: bytes) -> bool:
    """A JPEG must end with its EOI marker (FFD9); decoders otherwise fill the rest with grey."""
    return data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] != b"\xff\xd9"


def upload_format(data: bytes) -> str | None:
    """"JPEG", "PNG" or "WebP" from an upload's first bytes, else None: the formats a browser or a
    camera sends, the only ones the server decodes. OpenCV would try every decoder it has (Radiance
    HDR, PFM, TIFF, JPEG 2000, ...), some sizing their buffer from a header the pixel budget cannot
    read: 60 bytes of Radiance header asked it for 10.8 GB."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def decode_upload(data: bytes, what: str, max_pixels: int):
    """BGR uint8 image of ``data`` (JPEG, PNG or WebP) or InputError (TooLargeError above
    ``max_pixels``). Blocking: call it from a worker thread."""
    unreadable = InputError(f"{what} is not a readable image: send JPEG, PNG or WebP")
    if not data:
        raise InputError(f"{what} is empty")
    if upload_format(data) is None:
        raise unreadable
    if is_truncated_jpeg(data):
        raise InputError(f"{what} is a truncated JPEG")
    try:
        return decode_image(data, what, max_pixels, formats=())
    except TooLargeError:
        raise
    except InputError:   # a header or data no decoder takes: named as the formats this server reads
        raise unreadable from None


async def read_body(request: Request, cap: int, timeout_s: float, required: bool = True) -> bytes:
    """The body, at most ``cap`` bytes (413 above), arrived within ``timeout_s`` (408 after); 400 for
    a client gone before its body arrived (nobody reads that answer: it keeps a dropped upload, which
    anyone can send, out of the error log)."""
    n = request.headers.get("content-length")
    if n is not None and n.isdigit() and int(n) > cap:
        raise HTTPException(413, f"body larger than {cap} bytes")
    buf = bytearray()
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                buf += chunk
                if len(buf) > cap:
                    raise HTTPException(413, f"body larger than {cap} bytes")
    except TimeoutError:
        raise HTTPException(408, f"the body did not arrive within {timeout_s:g} s") from None
    except ClientDisconnect:
        raise HTTPException(400, "the client closed the connection before its body arrived") from None
    if required and not buf:
        raise HTTPException(400, "empty body: send the image bytes (JPEG, PNG or WebP)")
    return bytes(buf)


async def read_image_bytes(request: Request, cap: int, timeout_s: float) -> bytes:
    """An image sent as the raw body, or as the one file of a ``multipart/form-data`` form
    (``curl -F image=@face.jpg``)."""
    return (await read_images(request, cap, timeout_s, 1))[0][1]


async def read_images(request: Request, cap: int, timeout_s: float, max_files: int) -> list[tuple[str, bytes]]:
    """[(name, bytes)] of the images sent: the raw body ("image"), or each file of a ``multipart/form-data``
    form, at most ``max_files`` (``curl -F image=@a.jpg -F image=@b.jpg``), named by their place
    ("image 2"; a client's file name is not repeated back); ``cap`` bytes in all."""
    data = await read_body(request, cap, timeout_s)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return [("image", data)]
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def body():
        yield data
    try:
        form = await MultiPartParser(request.headers, body(), max_files=max_files, max_fields=8,
                                     max_part_size=cap).parse()
    except MultiPartException as e:
        raise InputError(f"unreadable multipart form: {e.message}") from None
    files = [v for _, v in form.multi_items() if hasattr(v, "read")]
    if not files:
        raise InputError("the multipart form holds no file: send the image as a file field (-F image=@face.jpg)")
    return [(f"image {i + 1}" if len(files) > 1 else "image", await f.read()) for i, f in enumerate(files)]


async def read_json_object(request: Request, timeout_s: float, fields: tuple[str, ...],
                           required: bool = True) -> dict:
    """A small JSON object body (at most JSON_CAP bytes) of no other keys than ``fields``; {} for an
    empty optional body. A key the route does not know is refused, not ignored: a misspelt
    "expected_identity" would otherwise make a session that accepts anyone."""
    data = await read_body(request, JSON_CAP, timeout_s, required=False)
    if not data and not required:
        return {}
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: arrays nested a thousand deep
        obj = None
    if not isinstance(obj, dict):
        raise InputError("send a JSON object")
    unknown = sorted(k for k in obj if k not in fields)
    if unknown:
        names = ", ".join(repr(k[:40]) for k in unknown[:3])
        raise InputError(f"unknown field {names}: this route takes {', '.join(fields)}")
    return obj


def optional_text(obj: dict, key: str, limit: int = 256) -> str | None:
    """``obj[key]`` as a string of 1 to ``limit`` printable characters, or None when absent."""
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not 0 < len(v) <= limit or not v.isprintable():
        raise InputError(f"{key} must be a string of 1 to {limit} printable characters")
    return v
