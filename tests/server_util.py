"""Start the real app under uvicorn on a free loopback port, in a background thread."""
import contextlib
import socket
import threading
import time

import uvicorn

# the test clients send each frame once the last is answered, faster than a camera: their servers
# score frames at any rate (the stream's frame budget, max_fps, is tested on its own in test_server.py)
UNPACED_FPS = 1000.0


def free_port() -> int:
    """A loopback TCP port nobody listens on now (for a server the test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(addr: str, timeout_s: float = 60.0) -> None:
    """Wait until a server started in another process answers /health with 200."""
    import httpx
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if httpx.get(f"http://{addr}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no healthy server at {addr} within {timeout_s:g} s")


@contextlib.contextmanager
def running(app, trusted_proxies=()):
    """The app served as ``marginlive serve`` serves it (its uvicorn settings), on a free port."""
    from marginlive.server.run import uvicorn_config
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, app.state.ml.cfg, "127.0.0.1", port, trusted_proxies))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(10)
        sock.close()


def closed_by_server(s: socket.socket, wait_s: float = 2.0) -> bool:
    """Whether the server closed socket ``s`` (its next read is the end of the stream), waiting up to ``wait_s`` s."""
    s.settimeout(wait_s)
    try:
        return s.recv(1000) == b""
    except (socket.timeout, ConnectionResetError):
        return False
