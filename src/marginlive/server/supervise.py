"""The supervisor of `marginlive serve --workers N`, in an interpreter of its own.

`run_serve` builds the app once to check the settings (a bad model, gallery or Redis stops there with
its reason), then replaces its process with this one (``os.execv``: the same process id, so a service
manager's signals still reach it). This process binds the port and starts the worker processes, each
of which builds its own app from the settings in the environment (``run.app_from_env``); it imports
uvicorn and the HTTP protocol only, so it holds no model: about 30 MB instead of a worker's 200.

Run as ``python -m marginlive.server.supervise SETTINGS``, SETTINGS a JSON object: ``host``, ``port``,
``workers`` and ``options``, uvicorn's keyword arguments other than ``http`` (``run.uvicorn_options``).
"""
from __future__ import annotations

import json
import sys


def supervise(settings: dict) -> None:
    """Serve ``run.app_from_env`` from ``settings["workers"]`` processes until told to stop."""
    import uvicorn
    from .protocol import protocol_class
    uvicorn.run("marginlive.server.run:app_from_env", factory=True, workers=settings["workers"],
                host=settings["host"], port=settings["port"], http=protocol_class(), **settings["options"])


if __name__ == "__main__":
    supervise(json.loads(sys.argv[1]))
