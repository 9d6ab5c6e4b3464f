"""The `marginlive` command line: parses, calls the library, prints. Errors a user can cause
print one line on stderr and exit non-zero, never a traceback."""
from __future__ import annotations

import argparse
import math
import os
import sys

from .challenge.session import SessionConfig
from .detect import DEFAULT_DETECTOR, DETECTORS
from .errors import InputError, MarginliveError
from .identity.select import CANDIDATES

COMMANDS = {}


def command(name, help, args):
    """Register a subcommand: its function, one-line help and the function adding its arguments."""
    def deco(fn):
        COMMANDS[name] = (fn, help, args)
        return fn
    return deco


def _add_model_args(p, detector=True):
    p.add_argument("--model", help="liveness model: default (the fused model), fast (a distilled network and LBP) or a .onnx file")
    if detector:
        p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS,
                       help="face detector (default: BlazeFace short range on ONNX Runtime)")
        p.add_argument("--detector-model", help="for caffe-ssd: folder with .prototxt + .caffemodel")
        p.add_argument("--margin", type=float, help="override the model's margin (enlargement of the face box)")
        p.add_argument("--threshold", type=float, help="override the model's decision threshold on P(real)")


# ---------------------------------------------------------------------------------- detect
def _detect_args(p):
    p.add_argument("paths", nargs="*", help="images, folders of images, video files")
    p.add_argument("--camera", type=int, help="webcam index instead of paths")
    _add_model_args(p)
    p.add_argument("--save", help="write annotated output: a file for one input, a folder for several")
    p.add_argument("--show", action="store_true", help="show annotated frames in a window")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line per face per frame; after a video's frames, one per tracked face "
                        "with its verdict over the video")
    p.add_argument("--max-frames", type=_count, help="stop a video or camera after this many frames")


@command("detect", "passive liveness on images, videos or a webcam (the paper's Figure 8 boxes)", args=_detect_args)
def cmd_detect(a):
    from .detect_cli import run_detect
    return run_detect(a)


# --------------------------------------------------------------------------------- collect
def _collect_args(p):
    p.add_argument("paths", nargs="*", help="videos or folders of images/videos of one label and subject")
    p.add_argument("--manifest", action="append", help="a labelled manifest.csv (e.g. ../shared/data/*/manifest.csv); repeatable")
    p.add_argument("--label", choices=["real", "fake"], help="label of the given videos/folders")
    p.add_argument("--subject", help="subject / group id of the given videos/folders (splits are by group)")
    p.add_argument("--attack", help="attack species of fakes (print, screen, ...)")
    p.add_argument("--every", type=int, default=4, help="keep every n-th video frame (paper: 4)")
    p.add_argument("--out", required=True, help="dataset folder (created, or appended to)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS)
    p.add_argument("--detector-model", help="for caffe-ssd: folder with .prototxt + .caffemodel")


@command("collect", "cut face context crops from videos, folders or labelled manifests into a dataset", args=_collect_args)
def cmd_collect(a):
    from .training.commands import run_collect
    return run_collect(a)


# ----------------------------------------------------------------------------------- train
def _train_args(p):
    p.add_argument("dataset", help="dataset folder made by `marginlive collect`")
    p.add_argument("--recipe", help="build a named model recipe instead of one network: 'default' rebuilds the "
                        "shipped model (its cdcnet branch trained and its texture branches fitted on DATASET, "
                        "fused with Silent-Face), 'fast' the fast one (its LBP branch fitted on DATASET, fused "
                        "with the network distil made); the network options below are then unused")
    p.add_argument("--components", metavar="DIR",
                   help="with --recipe: also keep the recipe's trained network there (make model: models/components); "
                        "for 'fast', where its distilled network is read (default models/components)")
    p.add_argument("--arch", default="livenessnet",
                   help="livenessnet (the paper's), minires (the fast model's), minires-16 and minires-32 (the "
                        "same with 16 or 32 stem channels), minires-s2d (the same with a space-to-depth stem), "
                        "minires-tone (each image brought to one brightness first), minires-grey (each image's colour "
                        "cast taken out first) or "
                        "cdcnet (central difference convolutions, pixel-wise supervision)")
    p.add_argument("--margin", type=float, default=2.0, help="face box enlargement (paper: 2.0)")
    p.add_argument("--size", type=int, default=64, help="input size in px (paper: 64; a multiple of 8)")
    p.add_argument("--device", default="cpu", help="where to train: cpu, or cuda where PyTorch sees a GPU")
    p.add_argument("--epochs", type=_count, default=50)
    p.add_argument("--batch", type=_count, default=8)
    p.add_argument("--lr", type=_positive, default=4e-4)
    p.add_argument("--weight-decay", type=_non_negative, default=0.0)
    p.add_argument("--aug", default="paper", help="augmentation: paper, strong (adds colour/blur/noise) or none")
    p.add_argument("--balance", action="store_true", help="weigh every dataset x class cell equally")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-frac", type=_share, default=0.25, help="group-disjoint validation share (0: train on all)")
    p.add_argument("--cv", type=int, default=0, help="first run k-fold leave-groups-out cross-validation")
    p.add_argument("--texture", type=float, default=0.0, metavar="WEIGHT",
                   help="fuse hand-crafted texture branches with this weight in (0, 1); the model then takes the "
                        "4x context crop (the default model: 0.7)")
    p.add_argument("--texture-branches", choices=("shipped", "lbp"), default="shipped",
                   help="with --texture: the default recipe's three (LBP of the 4x context at 128 and 64 px, LPQ "
                        "at 128 px) or one LBP branch at 128 px")
    p.add_argument("--out", default="marginlive-model.onnx", help="model file to write (.onnx)")
    p.add_argument("--name", help="model name stored in its metadata")
    p.add_argument("--curves", help="training curves PNG (default: beside the model)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def _run_training(name: str, a) -> int:
    """``training.commands.<name>(a)`` (imported here: the train extra's packages load only when asked)."""
    from .training import commands
    return getattr(commands, name)(a)


@command("train", "train a liveness model (the paper's recipe by default) and export it to ONNX", args=_train_args)
def cmd_train(a):
    return _run_training("run_train", a)


def _distil_args(p):
    p.add_argument("dataset", help="dataset folder made by `marginlive collect --manifest ...`")
    p.add_argument("--sources", required=True, help="the folder holding each manifest's dataset folder "
                                                     "(../shared/data): the teacher scores the source frames")
    p.add_argument("--teacher", help="the teaching model (default: the shipped one)")
    p.add_argument("--copies", type=int, default=2, help="altered frames per source frame, each scored by the teacher")
    p.add_argument("--epochs", type=_count, default=20)
    p.add_argument("--size", type=int, default=96, help="the student's input: the 4x context at this many px")
    p.add_argument("--arch", default="minires",
                   help="the student's architecture, one of train's --arch "
                        "(fast: minires, minires-16, minires-32, minires-s2d, minires-tone, minires-grey)")
    p.add_argument("--calibration", type=float, default=0.0,
                   help="share of the groups the student never trains on, its threshold then chosen on them "
                        "(default 0: all groups, threshold 0.5)")
    p.add_argument("--hard-weight", type=float, default=0.3,
                   help="the label's share of the student's target, the rest the teacher's score (0-1)")
    p.add_argument("--seed", type=int, default=0, help="the student's batch order and augmentation: "
                                                        "compare recipes over several")
    p.add_argument("--average-from", type=int, default=0,
                   help="the student is the mean of its weights after this epoch and every later one "
                        "(0, the default: its last epoch's)")
    p.add_argument("--device", default="cpu", help="where the student trains: cpu, or cuda where PyTorch sees a GPU")
    p.add_argument("--taught", help="a .npz of the teacher's scores: read if it exists, else written after "
                                    "the teacher's pass (train several students from one pass)")
    p.add_argument("--out", required=True, help="model file to write (.onnx)")
    p.add_argument("--name", default="student-4x-96", help="model name stored in its metadata")


@command("distil", "teach one small network the shipped (or another) model's scores: the fast model's network",
         args=_distil_args)
def cmd_distil(a):
    return _run_training("run_distil", a)


def _restem_args(p):
    p.add_argument("model", help="the model to make cheaper: a one-network MiniResNet file (models/components/student-4x-96.onnx, "
                        "or what distil wrote)")
    p.add_argument("dataset", help="dataset folder made by `marginlive collect --manifest ...` (its source frames "
                                   "are cut again; held-out groups left out)")
    p.add_argument("--sources", required=True, help="the folder holding each manifest's dataset folder (../shared/data)")
    p.add_argument("--steps", type=int, default=1200, help="steps of 128 crops training the new stage alone (default 1200)")
    p.add_argument("--tune-steps", type=int, default=2000,
                   help="steps then tuning the whole network to the model's logit (default 2000; ~30 min in all here)")
    p.add_argument("--stem", choices=("strided", "pruned"), default="strided",
                   help="the new first stage: a strided convolution (default), or the old one with fewer stem channels")
    p.add_argument("--keep", type=int, default=16, help="pruned: the stem channels kept (default 16)")
    p.add_argument("--shifted", type=int, default=2,
                   help="crops per frame shifted as another camera or scene would show it (default 2)")
    p.add_argument("--out", required=True, help="model file to write (.onnx)")
    p.add_argument("--name", default="marginlive-fast", help="model name stored in its metadata")


@command("restem", "replace a fast model's full-resolution first stage by a cheaper one fitted to copy it (fewer "
                   "stem channels, or a strided convolution): a close copy, not an exact one (training/restem.py)",
         args=_restem_args)
def cmd_restem(a):
    return _run_training("run_restem", a)


def _reexport_args(p):
    p.add_argument("model", help="a fused model that `marginlive train --recipe` built: default, fast or a .onnx file")
    p.add_argument("--out", help="where to write it (default: over the model file, atomically)")


@command("reexport", "write a fused model's fitted weights again with today's graph code (faster formulations of "
                     "the same arithmetic; no data, seconds)", args=_reexport_args)
def cmd_reexport(a):
    return _run_training("run_reexport", a)


# ------------------------------------------------------------------------------ experiment
def _experiment_args(p):
    p.add_argument("kind", choices=["margin"], help="margin: train at each margin, compare leave-groups-out")
    p.add_argument("dataset", help="dataset folder made by `marginlive collect`")
    p.add_argument("--margins", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.7, 4.0])
    p.add_argument("--arch", default="livenessnet")
    p.add_argument("--epochs", type=_count, default=20)
    p.add_argument("--batch", type=_count, default=8)
    p.add_argument("--aug", default="paper")
    p.add_argument("--balance", action="store_true")
    p.add_argument("--folds", type=int, default=4, help="leave-groups-out folds")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--eval-datasets", nargs="+", default=["webcam-replay"],
                   help="datasets whose groups are held out and scored (others always train)")
    p.add_argument("--out", help="write every number (and out-of-fold scores) as JSON here")


@command("experiment", "reproduce the paper's margin claim: same recipe at several margins, leave-groups-out", args=_experiment_args)
def cmd_experiment(a):
    from .training.experiment import run_experiment
    return run_experiment(a)


# -------------------------------------------------------------------------------- evaluate
def _evaluate_args(p):
    p.add_argument("models", nargs="+", metavar="MODEL_OR_DATASET",
                   help="model(s) (an .onnx file: ours or the peer; or default, fast), then dataset(s): "
                        "manifest.csv, a dataset folder made by `marginlive collect`, or a folder with real/ and fake/")
    p.add_argument("--report", help="folder for report.json, report.md and plots")
    p.add_argument("--no-worst", action="store_true",
                   help="leave the grid of worst-error face crops out of the report (data you may not redistribute)")
    p.add_argument("--dev", help="development dataset: its EER threshold gives the HTER on the others")
    p.add_argument("--clip", action="append", help="a whole video to decide: real=PATH or fake=PATH (repeatable)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS)
    p.add_argument("--detector-model")


@command("evaluate", "PAD metrics (ISO/IEC 30107-3 and the paper's) with a report of plots", args=_evaluate_args)
def cmd_evaluate(a):
    """`marginlive evaluate MODEL... DATA...`: models first (names or .onnx files), the data after them."""
    from .evaluation.commands import run_evaluate
    from .liveness.runtime import NAMED_MODELS, model_path
    # models come first, datasets after: split at the first argument that is neither an .onnx file
    # nor a shipped model's name (default, accurate, fast)
    args = list(a.models)
    k = next((i for i, x in enumerate(args) if not (x.endswith(".onnx") or x in NAMED_MODELS)), len(args))
    a.models, a.datasets = [str(model_path(m)) for m in args[:k]], args[k:]
    if not a.models:
        raise InputError("give a model (an .onnx file, or default or fast) first, then datasets")
    return run_evaluate(a)


# ------------------------------------------------------------------------------- calibrate
def _calibrate_args(p):
    p.add_argument("live", nargs="+", help="images, folders or videos of genuine users filmed by the deployment's camera")
    p.add_argument("--attacks", nargs="+", default=[], help="images, folders or videos of attacks shown to it (optional)")
    p.add_argument("--model", help="liveness model: default, fast or a .onnx file")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS)
    p.add_argument("--detector-model")
    p.add_argument("--target-bpcer", type=float, default=0.02, help="largest share of live faces to turn away (0.02)")
    p.add_argument("--floor", type=float, default=0.35, help="lowest threshold to choose (0.35)")
    p.add_argument("--every", type=int, default=3, help="score every n-th video frame (3)")
    p.add_argument("--json", action="store_true", help="one JSON line with the threshold and what it trades")


@command("calibrate", "the threshold for your camera: at most --target-bpcer of your genuine users' faces turned away",
         args=_calibrate_args)
def cmd_calibrate(a):
    from .evaluation.calibrate_cli import run_calibrate
    return run_calibrate(a)


# ---------------------------------------------------------------------------- authenticate
def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port from 1 to 65535, got {value!r}")
    return int(value)


def _origin(value: str) -> str:
    """A page origin as a browser sends it in its Origin header: http(s)://HOST[:PORT], no path."""
    from urllib.parse import urlsplit
    u = urlsplit(value)
    if u.scheme not in ("http", "https") or not u.hostname or u.path or u.query or u.fragment or u.username:
        bare = f"{u.scheme}://{u.netloc}" if u.scheme in ("http", "https") and u.netloc else "https://app.example.com"
        raise argparse.ArgumentTypeError(f"an origin is http(s)://HOST[:PORT] with nothing after it, as a browser "
                                         f"sends it (e.g. {bare}), not {value!r}")
    return value


def _count(value: str) -> int:
    """A whole number of at least 1 (frames, faces)."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {value!r}")
    return n


def _number(value: str, ok, what: str) -> float:
    """A finite number for which ``ok`` holds, else argparse's one-line error naming ``what``."""
    try:
        x = float(value)
    except ValueError:
        x = float("nan")
    if not (math.isfinite(x) and ok(x)):
        raise argparse.ArgumentTypeError(f"{what}, got {value!r}")
    return x


def _positive(value: str) -> float:
    """A finite number above 0 (seconds, rates, a learning rate, a distance)."""
    return _number(value, lambda x: x > 0, "a number above 0")


def _non_negative(value: str) -> float:
    return _number(value, lambda x: x >= 0, "a number of at least 0")


def _share(value: str) -> float:
    """A share in [0, 1) (of groups, of images)."""
    return _number(value, lambda x: 0 <= x < 1, "a share from 0 up to (not including) 1")


def _unsure_floor(value: str) -> float | None:
    return None if value == "off" else _number(value, lambda x: 0 <= x < 1, "a probability in [0, 1) or 'off'")


def _add_session_args(p):
    p.add_argument("--challenges", type=_count, default=2, help="number of random actions to ask for")
    p.add_argument("--challenge-timeout", type=_positive, default=8.0, help="seconds allowed per action")
    p.add_argument("--unsure-floor", type=_unsure_floor, default=SessionConfig.unsure_floor, metavar="P",
                   help="a face the model turns away with a mean P(real) at or above P is asked for more actions "
                        f"instead of rejected (default {SessionConfig.unsure_floor}; off: reject at the threshold)")


def _auth_args(p):
    p.add_argument("video", nargs="?", help="a video file (or use --camera)")
    p.add_argument("--camera", type=int, help="webcam index")
    _add_model_args(p)
    _add_session_args(p)
    p.add_argument("--actions", nargs="+", help="restrict the random pool to these action names")
    p.add_argument("--mirrored", action="store_true", help="frames are selfie-mirrored (left/right swapped): the "
                   "challenge's left and right follow the picture, and liveness scores each face unmirrored")
    p.add_argument("--gallery", help="gallery (SQLite file or postgresql:// URL): the user must also be recognised")
    p.add_argument("--enroll", metavar="NAME", help="enrol the user as NAME once the session passes: its 5 best faces "
                   "(into --gallery, default $MARGINLIVE_GALLERY or .marginlive/gallery.db)")
    p.add_argument("--save", help="write the annotated session video here")
    p.add_argument("--show", action="store_true", help="show the session in a window")
    p.add_argument("--json", action="store_true", help="JSON lines: each state change, then the verdict and log")


@command("authenticate", "the full session: passive liveness, random challenges, identity (exit 0 accepted, 1 rejected)", args=_auth_args)
def cmd_authenticate(a):
    from .auth_cli import run_authenticate
    return run_authenticate(a)


# -------------------------------------------------------------------------------- identity
def _gallery_arg(p):
    p.add_argument("--gallery", help="SQLite gallery file or postgresql:// URL (default: $MARGINLIVE_GALLERY or .marginlive/gallery.db)")


def _detector_args(p):
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS)
    p.add_argument("--detector-model")


def _enroll_args(p):
    p.add_argument("name", help="identity name")
    p.add_argument("inputs", nargs="+", help="images, videos or folders of one person (one face each)")
    p.add_argument("--model", help="liveness model (only live faces enrol)")
    p.add_argument("--frames", type=_count, default=10,
                   help=f"faces kept from each video (default 10): of its best {CANDIDATES} or more by quality, "
                        "the most typical first, then those least like them (identity/select.py)")
    _detector_args(p)
    _gallery_arg(p)


def _identities_args(p):
    p.add_argument("action", choices=["list", "remove"])
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    _gallery_arg(p)


def _probe_args(p, verify=False):
    if verify:
        p.add_argument("name", help="claimed identity")
    p.add_argument("input", help="an image with exactly one face, or a video of one person (its best faces decide)")
    p.add_argument("--frames", type=_count, default=5,
                   help="faces a video's decision uses, the best of 6x as many frames (default 5, as a session)")
    p.add_argument("--threshold", type=_positive,
                   help="max embedding distance for a match (default: the shipped one, "
                        "marginlive.identity.recognise.DEFAULT_THRESHOLD, chosen in docs/identity_sessions.md)")
    p.add_argument("--model", help="liveness model: only faces it scores live name anyone, and most of the "
                                    "faces must be (default: the shipped model)")
    p.add_argument("--no-liveness", action="store_true",
                   help="recognition alone: a photo or a screen of an enrolled person matches them")
    p.add_argument("--json", action="store_true")
    _detector_args(p)
    _gallery_arg(p)


@command("enroll", "add a person to the gallery (liveness runs first: only live faces enrol)", args=_enroll_args)
def cmd_enroll(a):
    from .identity.commands import run_enroll
    return run_enroll(a)


@command("identities", "list or remove enrolled identities", args=_identities_args)
def cmd_identities(a):
    from .identity.commands import run_identities
    return run_identities(a)


@command("identify", "who is this? 1:N against the gallery, a live face only (exit 1: unknown or not live)",
         args=_probe_args)
def cmd_identify(a):
    from .identity.commands import run_identify
    return run_identify(a)


@command("verify", "is this NAME? 1:1 against the gallery, a live face only (exit 1: no match or not live)",
         args=lambda p: _probe_args(p, verify=True))
def cmd_verify(a):
    from .identity.commands import run_verify
    return run_verify(a)


# ----------------------------------------------------------------------------------- serve
def _serve_args(p):
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--model", help="liveness model: default, fast or a .onnx file")
    p.add_argument("--threshold", type=float, help="decision threshold on P(real) (default: the model's; marginlive calibrate picks one)")
    p.add_argument("--gallery", help="SQLite gallery file or postgresql://USER@HOST:PORT/DB (default: $MARGINLIVE_GALLERY or .marginlive/gallery.db)")
    p.add_argument("--admin-token", help="token for the enrolment endpoints (default: $MARGINLIVE_ADMIN_TOKEN, "
                                         "else a random one printed at start)")
    _add_session_args(p)
    p.add_argument("--frame-threads", type=_count, default=2, help="frames decoded and scored at once per process")
    p.add_argument("--max-fps", type=_positive, default=15.0,
                   help="frames a stream may have scored per second (15; the page sends 10): more are skipped")
    p.add_argument("--workers", type=_count, default=1,
                   help="server processes on this machine (more than 1 needs --redis)")
    p.add_argument("--check", action="store_true",
                   help="load the model, gallery and Redis these settings name, say so and exit (0) without "
                        "serving: a check before a restart, while the running server holds the port")
    p.add_argument("--drain-timeout", type=_non_negative, default=30.0, metavar="S",
                   help="at SIGTERM, seconds the logins streaming may take to finish while no new one starts "
                        "(30; a second signal stops at once)")
    p.add_argument("--rate", type=_positive, default=5.0, help="requests per second per client (liveness, sessions)")
    p.add_argument("--burst", type=_count, default=30, help="request burst per client")
    p.add_argument("--max-failures", type=_count, default=5,
                   help="rejected sessions per client (and per expected identity) per 10 minutes")
    p.add_argument("--max-sessions", type=_count, default=64, help="open sessions in all (503 beyond)")
    p.add_argument("--max-sessions-per-client", type=_count, default=3, help="open sessions per client (429 beyond)")
    p.add_argument("--max-connections-per-address", type=_count, default=32, metavar="N",
                   help="HTTP connections one address may hold open per process (32; a trusted proxy's are not "
                        "capped): raise it for many users behind one NAT address with no proxy in front")
    p.add_argument("--ipv6-prefix", type=_count, default=64, metavar="BITS",
                   help="an IPv6 client counts as its network of this many bits for every per-client limit "
                        "(64: one home line or phone, which may send from any address of its /64; 128: each address)")
    p.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS",
                   help="a reverse proxy whose X-Forwarded-For / -Proto headers are believed (repeatable); "
                        "without one, forwarded headers are ignored")
    p.add_argument("--redis", metavar="URL", help="redis://HOST:PORT/DB: sessions, limits, lockouts and redeemed "
                                                  "verdicts shared by every replica naming it (default: in memory)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN", type=_origin,
                   help="another page origin (https://app.example.com) allowed to create sessions and open streams "
                        "(repeatable)")
    p.add_argument("--liveness-api", choices=("admin", "public", "off"), default="admin",
                   help="who may call POST /v1/liveness, which answers scores: the admin token, anyone "
                        "(rate-limited), or nobody; scores help an attacker tune a replay (default: admin)")


@command("serve", "the authentication service and its webcam page (HTTP + WebSocket)", args=_serve_args)
def cmd_serve(a):
    from .server.run import run_serve
    return run_serve(a)


# ------------------------------------------------------------------------------------ main


# the help lists what a user runs first, then what builds and measures models
USER_COMMANDS = ("detect", "authenticate", "enroll", "identify", "verify", "identities", "serve", "calibrate",
                 "evaluate")


def build_parser() -> argparse.ArgumentParser:
    """The `marginlive` parser: one subcommand per ``@command``, the user's commands listed first."""
    from . import __version__
    ap = argparse.ArgumentParser(prog="marginlive", description="Margin-based face liveness detection "
                                 "with behavioural confirmation.",
                                 epilog="Start with `marginlive detect photo.jpg` or `marginlive serve`; "
                                        f"{', '.join(c for c in COMMANDS if c not in USER_COMMANDS)} make and study models. "
                                        "`marginlive COMMAND -h` for each.")
    ap.add_argument("--version", action="version", version=f"marginlive {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    ordered = sorted(COMMANDS, key=lambda c: USER_COMMANDS.index(c) if c in USER_COMMANDS else len(USER_COMMANDS))
    for name in ordered:
        fn, help, args = COMMANDS[name]
        p = sub.add_parser(name, help=help, description=help)
        args(p)
        p.set_defaults(func=fn)
    return ap


# The package the optional imports come from, by top-level module: `pip install marginlive` is the
# passive check alone, on any Python from 3.11; each extra adds what its commands import.
EXTRA_OF = {"mediapipe": "challenge", "torch": "train", "onnx": "train", "tflite": "train",
            "sklearn": "eval", "matplotlib": "eval", "dlib": "identity", "face_recognition_models": "identity",
            "fastapi": "serve", "starlette": "serve", "uvicorn": "serve", "anyio": "serve", "multipart": "serve",
            "python_multipart": "serve", "redis": "serve", "psycopg": "serve"}
EXTRA_NOTE = {"challenge": " (MediaPipe 0.10.21: Python 3.11 or 3.12)",
              "serve": " (with MediaPipe 0.10.21: Python 3.11 or 3.12)"}


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code: a ``MarginliveError`` is one line on stderr and its
    ``exit_code``, a missing optional package names its extra (2), an unwritable path 2, Ctrl-C 130."""
    ap = build_parser()
    a = ap.parse_args(argv)
    if not getattr(a, "func", None):
        ap.print_help()
        return 2
    import cv2

    from .frames import set_opencv_log_level
    cv2.setNumThreads(1)   # the CLI owns its process: one OpenCV thread (competing pools stall on few cores)
    if "OPENCV_LOG_LEVEL" not in os.environ:   # its warnings on a file it cannot read (a float TIFF) came
        set_opencv_log_level(2)                # before the one line saying so: errors only, unless asked
    try:
        return int(a.func(a) or 0)
    except MarginliveError as e:
        print(f"marginlive {a.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:
        extra = EXTRA_OF.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"marginlive {a.command}: error: {a.command} needs the {extra} extra: pip install 'marginlive[{extra}]'"
              f"{EXTRA_NOTE.get(extra, '')} ({e})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"marginlive {a.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        if e.filename is None:   # not a path the user gave or can fix: a bug, with its traceback
            raise
        # a folder that cannot be made, a read-only or full disk: where the user asked to write
        print(f"marginlive {a.command}: error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return InputError.exit_code
