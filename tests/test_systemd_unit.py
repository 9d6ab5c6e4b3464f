"""deploy/marginlive.service: systemd accepts it, and its own command line starts the service.

Runs the unit's ExecStart (binary and paths moved to this checkout and a temporary folder, the port to a
free one) with the unit's environment and a secrets file as deploy/marginlive.env.example describes it,
and asks /health; with the example's placeholders, the same command refuses to start."""
import configparser
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from server_util import free_port

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "marginlive.service"
EXAMPLE = ROOT / "deploy" / "marginlive.env.example"


def unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    cp.optionxform = str
    cp.read(UNIT)
    return cp


def env_file(path: Path) -> dict:
    rows = [line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {k.strip(): v.strip() for k, v in rows}


def command(tmp_path: Path, port: int) -> list[str]:
    """The unit's ExecStart, run from this checkout's venv, on ``port``, with the state folder in ``tmp_path``."""
    argv = shlex.split(unit()["Service"]["ExecStart"])
    assert argv[0] == "/opt/marginlive/.venv/bin/marginlive" and argv[1] == "serve"
    argv[0] = str(Path(sys.executable).with_name("marginlive"))
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--gallery") + 1] = str(tmp_path / "gallery.db")
    return argv


def test_systemd_accepts_the_unit(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text().replace("/opt/marginlive/.venv/bin/marginlive", str(Path(sys.executable).with_name("marginlive")))
    (tmp_path / "marginlive.service").write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "marginlive.service")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_the_unit_keeps_the_service_on_loopback_behind_the_proxy():
    s = unit()["Service"]
    argv = shlex.split(s["ExecStart"])
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--trusted-proxy") + 1] == "127.0.0.1"
    assert argv[argv.index("--gallery") + 1].startswith("/var/lib/" + s["StateDirectory"] + "/")
    assert argv[argv.index("--liveness-api") + 1] == "admin"      # no score oracle facing the internet
    assert s["User"] != "root" and s["NoNewPrivileges"] == "yes" and s["ProtectSystem"] == "strict"
    assert set(env_file(EXAMPLE)) == {"MARGINLIVE_SECRET", "MARGINLIVE_ADMIN_TOKEN"}


def _start(argv, env, tmp_path):
    log = open(tmp_path / "serve.log", "w+")
    return subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT), log


def test_the_units_command_starts_the_service(tmp_path):
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("MARGINLIVE_")}
    unit_env = dict(e.split("=", 1) for e in unit()["Service"]["Environment"].split())
    secrets_env = {"MARGINLIVE_SECRET": secrets.token_hex(32), "MARGINLIVE_ADMIN_TOKEN": secrets.token_urlsafe(24)}
    assert set(secrets_env) == set(env_file(EXAMPLE))
    proc, log = _start(command(tmp_path, port), {**base, **unit_env, **secrets_env}, tmp_path)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        log.seek(0)
        assert proc.poll() is None, log.read()
        assert health.status_code == 200 and health.json()["status"] == "ok"
    finally:
        proc.terminate()               # as `systemctl stop` does: within the unit's TimeoutStopSec
        proc.wait(timeout=float(unit()["Service"]["TimeoutStopSec"]))
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_the_example_secrets_do_not_start_it(tmp_path):
    """Copied without replacing the placeholders, the service stops at once with the reason."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MARGINLIVE_")}
    r = subprocess.run(command(tmp_path, 1), env={**base, **env_file(EXAMPLE)}, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "MARGINLIVE_SECRET" in r.stderr and "Traceback" not in r.stderr
