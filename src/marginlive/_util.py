"""Small shared helpers: atomic writes, CSV manifests, quiet native stderr, progress bars."""
from __future__ import annotations

import contextlib
import csv
import os
import sys
import tempfile
import threading
from pathlib import Path

from .errors import DatasetError, InputError


def emit_json(obj) -> None:
    """One JSON object per line on stdout, flushed (for the CLI's --json streams)."""
    import json
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    tmp = _temp_beside(path, suffix or path.suffix)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _temp_beside(path: Path, suffix: str) -> str:
    """An empty temporary file in ``path``'s folder (made if missing), or InputError saying why not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    except OSError as e:   # a read-only place, a file where a folder should be: the user's to fix
        raise InputError(f"{path}: cannot write there ({e.strerror or e})") from None
    os.close(fd)
    return tmp


def read_csv_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a UTF-8 CSV file with a header line (a manifest), as dicts; DatasetError for a
    file that is not one (another encoding, a NUL byte, a field past the csv module's limit)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: not a UTF-8 CSV file ({e})") from None


def check_writable(path: str | os.PathLike) -> None:
    """InputError now, not after minutes of training, where no file can be written at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: a folder; give a file name")
    os.unlink(_temp_beside(path, path.suffix))


_quiet = threading.Lock()
_quieted = {"depth": 0, "saved": None}    # blocks inside quiet_native_stderr now; fd 2 as it was before


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence C++ logging written straight to fd 2 (TFLite, absl) for the duration. Safe across
    threads (a server's frame threads build and run MediaPipe graphs at once): fd 2 is redirected by
    the first block to enter and given back by the last to leave, never left on /dev/null."""
    with _quiet:
        if _quieted["depth"] == 0:
            _quieted["saved"] = _redirect_fd2()
        _quieted["depth"] += 1
    try:
        yield
    finally:
        with _quiet:
            _quieted["depth"] -= 1
            if _quieted["depth"] == 0 and _quieted["saved"] is not None:
                os.dup2(_quieted["saved"], 2)
                os.close(_quieted["saved"])
                _quieted["saved"] = None


def _redirect_fd2() -> int | None:
    """Point fd 2 at /dev/null; a duplicate of what it pointed at (None: no fd 2 to redirect)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        return None
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return saved


def progress(iterable=None, total=None, desc="", disable=None, unit="it"):
    from tqdm import tqdm
    if disable is None:
        disable = total is not None and total < 90
    disable = disable or not sys.stderr.isatty()  # no carriage-return spam in logs and pipes
    return tqdm(iterable, total=total, desc=desc, disable=disable, unit=unit, file=sys.stderr,
                dynamic_ncols=True, leave=False)
