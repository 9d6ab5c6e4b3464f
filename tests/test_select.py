import numpy as np

from marginlive.identity.gallery import Gallery
from marginlive.identity.recognise import ENOUGH_FACES, Recognizer, session_enrolment
from marginlive.identity.select import representative
from marginlive.types import FaceBox


def _cluster():
    """Eight faces of one person about the origin (0.05 apart), one turned away far off at x = 1."""
    rng = np.random.default_rng(0)
    faces = rng.normal(0, 0.05, (8, 128))
    faces[3] = 0.0                       # the most central of them
    return np.vstack([faces, np.eye(1, 128) * 1.0])


def test_the_most_typical_face_comes_first_then_the_farthest():
    v = _cluster()
    order = representative(v, 3)
    assert order[0] == 3                 # the medoid, not the outlier nor an arbitrary first row
    assert order[1] == 8                 # farthest from it: what the first face does not cover
    assert len(set(order)) == 3


def test_a_smaller_choice_is_the_start_of_a_larger_one():
    v = _cluster()
    full = representative(v, len(v))
    assert sorted(full) == list(range(len(v)))
    assert all(representative(v, k) == full[:k] for k in range(1, len(v) + 1))


def test_fewer_rows_than_asked_gives_them_all_and_none_gives_none():
    v = _cluster()[:2]
    assert sorted(representative(v, 5)) == [0, 1]
    assert representative(v, 0) == [] and representative(np.zeros((0, 128)), 3) == []


class _ByBox:
    """An embedder that reads the face's row of ``vectors`` off its box's x1 (frames are not looked at)."""
    name = "by-box"

    def __init__(self, vectors):
        self.vectors = vectors

    def embed(self, frame, box):
        return self.vectors[int(box.x1)]


def test_an_enrolment_session_enrols_the_most_typical_of_its_clear_views(tmp_path):
    v = _cluster()
    rec = Recognizer(Gallery(tmp_path / "g.db"), embedder=_ByBox(v))
    frame = np.zeros((8, 8, 3), np.uint8)
    views = [(frame, FaceBox(i, 0, i + 1, 1, 1.0)) for i in range(len(v))]
    decision = session_enrolment(rec, "ann")(views)
    names, kept = rec.gallery.vectors("by-box", "ann")
    assert decision.identity == "ann" and decision.probes == ENOUGH_FACES == len(kept)
    assert np.allclose(kept, v[representative(v, ENOUGH_FACES)])   # the medoid and the far view among them
