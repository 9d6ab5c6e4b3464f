"""Every generated figure of the README and the model card equals what its benchmark's results
file gives: a block between <!-- name:begin/end --> is rendered from docs/*.json, never typed."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_pipeline  # noqa: E402
import every_group_left_out  # noqa: E402
import leave_collections_out  # noqa: E402
import never_seen_crops  # noqa: E402
from common import block  # noqa: E402

BLOCKS = [("collections", "collections.json", leave_collections_out.readme_table, ("README.md", "models/MODEL_CARD.md")),
          ("threshold", "collections.json", leave_collections_out.sweep_sentence, ("README.md", "models/MODEL_CARD.md")),
          ("speed", "bench_pipeline.json", bench_pipeline.readme_speed, ("README.md",)),
          ("groups", "every_group.json", lambda r: every_group_left_out.readme_line(r["groups"], r["whole_above"]),
           ("README.md", "models/MODEL_CARD.md"))]


@pytest.mark.parametrize("name,results,render,pages", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_generated_blocks_match_their_results_file(name, results, render, pages):
    want = render(json.loads((ROOT / "docs" / results).read_text()))
    for page in pages:
        got = block((ROOT / page).read_text(), name)
        assert got is not None, f"{page} has no {name} block"
        assert got == want, f"{page}: the {name} block differs from docs/{results}; rerun its benchmark"


def test_speed_page_gives_issue_22_ratios_from_the_results_file():
    """docs/speed.md's ratios against the eight-branch fusion are the benchmark's, rendered from its JSON; a run
    without that model in the history writes none."""
    res = json.loads((ROOT / "docs" / "bench_pipeline.json").read_text())
    lines = [line for line in bench_pipeline.reference_lines(res) if line]
    assert lines and all(line in (ROOT / "docs" / "speed.md").read_text() for line in lines)
    per_face = "model_8_faces_per_face"
    fast, ref = res["models"]["fast"][per_face]["mean_ms"], res["reference"][per_face]["mean_ms"]
    assert f"{fast / ref:.3f} in a batch of 8 (target 0.056" in lines[0]
    assert bench_pipeline.reference_lines({k: v for k, v in res.items() if k != "reference"}) == []


def test_readme_is_short_and_says_how_to_test():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    assert "make test" in text


def test_research_index_lists_every_note_and_no_other():
    """docs/research/README.md names each note once: a new note is not lost, a removed one not cited."""
    research = ROOT / "docs" / "research"
    notes = {p.name for p in research.glob("*.md")} - {"README.md"}
    listed = set(re.findall(r"^\| `([^`]+\.md)` \|", (research / "README.md").read_text(), re.M))
    assert listed == notes, f"not indexed: {sorted(notes - listed)}; indexed but missing: {sorted(listed - notes)}"


def test_every_test_the_security_page_names_exists():
    """docs/security.md backs each property with a test: each named one must be there."""
    import ast
    named = set(re.findall(r"`(test_[a-z_]+\.py)::(test_[a-z0-9_]+)`", (ROOT / "docs" / "security.md").read_text()))
    assert len(named) >= 20
    for file, name in sorted(named):
        tree = ast.parse((ROOT / "tests" / file).read_text())
        assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, f"{file}::{name}"


def test_a_shift_row_is_its_worst_source_not_the_pooled_mean():
    """Rated per source, a shift's row takes each rate from the source where it is worst, so a source
    of many easy frames cannot hide another's failures; sources without such frames are skipped."""
    L = leave_collections_out
    by_source = {"groups": {"m": L.rates(np.array([0.9, 0.2, 0.8, 0.7]), np.array([1, 1, 0, 0]), 0.5)},
                 "easy video": {"m": L.rates(np.array([0.9] * 20 + [0.1] * 20), np.array([1] * 20 + [0] * 20), 0.5)},
                 "live only": {"m": L.rates(np.array([0.9]), np.array([1]), 0.5)}}
    row = L.worst_source(by_source, "m")
    assert (row["bpcer"], row["bpcer_source"]) == (0.5, "groups")
    assert (row["apcer"], row["apcer_source"]) == (1.0, "groups")
    assert (row["live"], row["attacks"]) == (23, 22)


def test_shift_sources_pool_the_newest_groups_and_keep_each_video_apart():
    L = leave_collections_out
    group = next(iter(L.NEWEST))
    colls = {f"webcam-replay: {group}": ["g1", "g2"], "webcam-replay: an old group": ["x"],
             **{video: [video] for video in L.VIDEOS}}
    assert L.shift_sources(colls) == {L.WITHOUT_NEWEST: ["g1", "g2"], **{video: [video] for video in L.VIDEOS}}


def test_kept_rows_are_rated_as_the_benchmark_rates_them():
    """never_seen_crops.py folds a shift's sources into its worst, as the benchmark's table does, and
    scores a 'left out' row by the rebuild without that collection, every other by the one without
    the newest groups."""
    N = never_seen_crops
    keys = np.array(["shift: dim [groups]"] * 4 + ["shift: dim [video]"] * 2 + ["nuaa-print, left out (x)"] * 2)
    labels = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.8, 0.7, 0.9, 0.1, 0.6, 0.4])
    table = N.rated(keys, labels, p, 0.5)
    assert list(table) == ["shift: dim", "nuaa-print, left out (x)"]
    dim, nuaa = table["shift: dim"], table["nuaa-print, left out (x)"]
    assert (dim["bpcer"], dim["apcer"], dim["apcer_source"]) == (0.5, 1.0, "groups")
    assert (nuaa["bpcer"], nuaa["apcer"]) == (0.0, 0.0)
    assert N.rebuild_of("celeba-spoof-sample, left out: worn paper masks") == "celeba-spoof-sample"
    assert N.rebuild_of("shift: dim room, noisy sensor [video pair 1 (webcam)]") == leave_collections_out.WITHOUT_NEWEST


def test_the_collections_page_is_its_results_file_rendered():
    """docs/collections.md is what ``leave_collections_out.py --pages-only`` writes from docs/collections.json."""
    L = leave_collections_out
    res = json.loads((ROOT / "docs" / "collections.json").read_text())
    assert (ROOT / "docs" / "collections.md").read_text() == L.page(res, "previous default" in res["models"])


def test_a_rate_interval_counts_the_frames_its_rate_came_from():
    """A shift row's interval is its worst source's (errors of that source's frames), not the pooled count."""
    L = leave_collections_out
    by_source = {"groups": {"m": L.rates(np.array([0.9, 0.2, 0.8, 0.7]), np.array([1, 1, 0, 0]), 0.5)},
                 "easy video": {"m": L.rates(np.array([0.9] * 20 + [0.1] * 20), np.array([1] * 20 + [0] * 20), 0.5)}}
    row = L.worst_source(by_source, "m")
    assert L._counted(row, "bpcer") == (1, 2) and L._counted(row, "apcer") == (2, 2)
    plain = L.rates(np.array([0.9, 0.2, 0.8]), np.array([1, 1, 1]), 0.5)
    assert L._counted(plain, "bpcer") == (1, 3) and L._counted(plain, "apcer") is None
    assert L._rate_with_interval((1, 3)).startswith("33.3% (") and L._rate_with_interval((1, 3)).endswith(" of 3")


def test_the_worst_group_is_read_from_its_whole_rebuild_where_it_has_one():
    """A group rebuilt whole (its cdcnet trained again without it) is rated by that rebuild, not by the
    partial refit that kept the shipped cdcnet: the README's worst line must carry no leak."""
    rate = lambda k, n: {"n": n, "errors": k, "rate": k / n, "low": 0.0, "high": 1.0}     # noqa: E731
    res = {"A__x": {"held_out_crops": 20, "bpcer": rate(5, 20), "apcer": rate(1, 20),
                    "whole": {"bpcer": rate(1, 20), "apcer": rate(8, 20)}},
           "B__y": {"held_out_crops": 20, "bpcer": rate(3, 20), "apcer": rate(2, 20)}}
    assert every_group_left_out.worst(res, "bpcer")[0] == "B__y"
    assert every_group_left_out.worst(res, "apcer") == ("A__x", rate(8, 20))
    line = every_group_left_out.readme_line(res)
    assert "turns away 15.0% of its live frames (B, 20 frames)" in line and "lets 40.0%" in line and "(A)" in line


def test_the_worst_groups_line_says_how_many_of_its_live_frames_a_session_would_reject():
    """The worst group's line gives the share of its live frames below a session's unsure floor (the rest of
    those turned away are asked for more actions), from the same rebuild as its rate: the whole one where it has one."""
    rate = lambda k, n: {"n": n, "errors": k, "rate": k / n, "low": 0.0, "high": 1.0}     # noqa: E731
    res = {"A__x": {"held_out_crops": 40, "bpcer": rate(4, 40), "apcer": rate(1, 40), "below_floor": rate(4, 40),
                    "whole": {"bpcer": rate(10, 40), "apcer": rate(1, 40), "below_floor": rate(1, 40)}},
           "B__y": {"held_out_crops": 40, "bpcer": rate(2, 40), "apcer": rate(2, 40), "below_floor": rate(2, 40)}}
    line = every_group_left_out.readme_line(res)
    assert "turns away 25.0% of its live frames (A, 40 frames; 2.5% below the unsure floor" in line
    del res["A__x"]["whole"]["below_floor"]
    assert "(A, 40 frames) and lets" in every_group_left_out.readme_line(res)
