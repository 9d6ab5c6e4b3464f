"""The package installs anywhere: a wheel built from the checkout holds the shipped model, the page
and the licences, and runs from outside the checkout (no path into the source tree)."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_model_and_runs_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("marginlive-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("marginlive/weights/marginlive-default.onnx", "marginlive/weights/LICENSE-silentface",
                 "marginlive/weights/blazeface-short-range.onnx", "marginlive/weights/LICENSE-blazeface",
                 "marginlive/server/static/index.html", "marginlive/server/static/app.js"):
        assert want in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import marginlive, numpy as np; from marginlive.liveness.runtime import LivenessModel, default_model_path;"
            "p = default_model_path(); m = LivenessModel(); print(p); print(m.name);"
            "from marginlive.detect import create_detector; assert create_detector().detect(np.zeros((240, 320, 3), np.uint8)) == []")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MARGINLIVE_MODEL")}
    env["PYTHONPATH"] = str(site)   # the unpacked wheel first, the venv's packages for the dependencies
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    path, name = r.stdout.split()
    assert Path(path).is_relative_to(site) and name == "marginlive-default"
