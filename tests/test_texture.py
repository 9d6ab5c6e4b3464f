"""The colour-texture branches (LBP and LPQ codes) and the gradient branch (HOG): codes and blocks
against their definitions, OpenCV-equal colour conversion, the chi-squared map, fitting, export."""
import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import bezel_views  # noqa: E402
from marginlive.liveness.fusion import MultiScale  # noqa: E402
from marginlive.liveness.networks import build  # noqa: E402
from marginlive.liveness.runtime import LivenessModel  # noqa: E402
from marginlive.liveness.texture import ColourTexture  # noqa: E402
from marginlive.liveness.views import context_tensor, context_view  # noqa: E402
from marginlive.training.texture import TextureSetting, fit_texture, texture_histograms  # noqa: E402


def _contexts(n, rng, noisy):
    """Smooth images vs the same with fine grain: a texture difference, not a colour one."""
    base = [cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (0, 0), 6) for _ in range(n)]
    if not noisy:
        return np.stack(base)
    return np.stack([np.clip(b.astype(np.int16) + rng.integers(-12, 13, b.shape), 0, 255).astype(np.uint8)
                     for b in base])


def test_ycrcb_levels_match_opencv():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    br = ColourTexture()
    x = context_tensor(img)
    levels = ColourTexture.ycrcb(context_view(x, 64, 1, 64))[0].permute(1, 2, 0).numpy()
    want = cv2.cvtColor(img[0], cv2.COLOR_BGR2YCrCb).astype(np.int16)
    assert np.abs(levels - want).max() <= 1 and (levels == np.round(levels)).all()
    # and the codes are 8-bit LBP codes, offset per channel
    c = br.codes(context_view(x, 64, 1, 64)).numpy()
    assert c.shape == (1, 3, 62 * 62)
    for ch in range(3):
        assert c[0, ch].min() >= 256 * ch and c[0, ch].max() < 256 * (ch + 1)


def _reference_lbp(img: np.ndarray, tolerance: int) -> np.ndarray:
    """Per-channel 8-neighbour LBP codes of a (S, S) uint8 image, written out pixel by pixel."""
    n = img.shape[0]
    out = np.zeros((n - 2, n - 2), np.int64)
    for i in range(1, n - 1):
        for j in range(1, n - 1):
            for bit, (dy, dx) in enumerate(ColourTexture.NEIGHBOURS):
                if int(img[i + dy, j + dx]) >= int(img[i, j]) + tolerance:
                    out[i - 1, j - 1] |= 1 << bit
    return out


@pytest.mark.parametrize("tolerance", [0, 2])
def test_codes_equal_a_pixel_by_pixel_lbp(tolerance):
    rng = np.random.default_rng(4)
    img = cv2.GaussianBlur(rng.integers(0, 256, (1, 20, 20, 3), dtype=np.uint8)[0], (0, 0), 1.0)[None]
    v = context_view(context_tensor(img), 20, 1, 20)
    c = ColourTexture(tolerance=tolerance).codes(v).numpy()
    y = ColourTexture.ycrcb(v)[0, 0]   # the branch's own levels, checked against OpenCV above
    want = _reference_lbp(y.numpy().astype(np.uint8), tolerance)
    assert (c[0, 0].reshape(18, 18) == want).all()
    c2 = ColourTexture(stride=2, tolerance=tolerance).codes(v).numpy()
    assert (c2[0, 0].reshape(9, 9) == want[::2, ::2]).all()


def test_histograms_and_chi2_map():
    from sklearn.kernel_approximation import AdditiveChi2Sampler
    rng = np.random.default_rng(1)
    x = context_tensor(_contexts(3, rng, True))
    v = context_view(x, 256, 2)
    br = ColourTexture(stride=2, chi2_steps=2)
    h = br.histograms(v)
    assert torch.allclose(h.sum(1), torch.full((3,), 3.0))        # one normalised histogram per channel
    codes = br.codes(v)
    assert torch.allclose(h[0], torch.bincount(codes[0].flatten(), minlength=768).float() / codes.shape[-1])
    want = AdditiveChi2Sampler(sample_steps=2, sample_interval=0.5).fit_transform(h.numpy())
    got = br.features(h).numpy()
    assert got.shape == (3, 3 * 768) and br.n_features() == 3 * 768
    assert np.allclose(np.sort(got, 1), np.sort(want, 1), atol=1e-6)   # the same features (own order)
    assert (got[:, :768][h.numpy() == 0] == 0).all()                   # an empty bin maps to zeros
    br.weight.data = torch.randn(br.n_features(), 1)
    br.bias.data = torch.tensor(0.3)
    assert torch.allclose(br(v), (br.features(h) @ br.weight)[:, 0] + br.bias, atol=1e-5)
    assert torch.equal(ColourTexture().features(h), h)                 # chi2_steps 0: the raw histograms


def test_fitted_branch_separates_texture_and_exports_exactly(tmp_path):
    from marginlive.training.export import export_onnx
    rng = np.random.default_rng(2)
    ctx = np.concatenate([_contexts(12, rng, False), _contexts(12, rng, True)])
    labels = np.array([1] * 12 + [0] * 12, np.float32)      # smooth = "real", grainy = "fake"
    branch = fit_texture(texture_histograms(ctx), labels, TextureSetting(c=1.0))
    torch.manual_seed(0)
    model = MultiScale({4.0: (branch, 128), 2.0: build("livenessnet").eval()}, weights=[1.0, 0.0])
    p = export_onnx(model, tmp_path / "tex.onnx", {"name": "t", "input_size": 256, "margin": 4.0, "threshold": 0.5},
                    check_crops=ctx[::3], deployable=True, atol=1e-5)
    test = np.concatenate([_contexts(4, rng, False), _contexts(4, rng, True)])
    got = LivenessModel(p).predict(test)
    assert (got[:4] > 0.5).all() and (got[4:] < 0.5).all()
    with pytest.raises(ValueError):
        MultiScale({4.0: (branch, 128)}, weights=[-1.0])


def test_texture_cross_validation_holds_out_whole_groups():
    """Scored leave-groups-out on the folds cross_validate uses: every image of the evaluated
    set gets one out-of-fold score, and a texture difference is found on unseen groups."""
    from marginlive.training.dataset import Dataset
    from marginlive.training.texture import TextureSetting, cross_validate_texture
    rng = np.random.default_rng(3)
    ctx = np.concatenate([_contexts(16, rng, False), _contexts(16, rng, True)])
    labels = np.array([1] * 16 + [0] * 16)
    groups = np.array([f"g{i % 8}" for i in range(32)])
    n = len(labels)
    ds = Dataset(ctx, labels, groups, np.where(labels == 1, "", "screen"), np.array(["set"] * n), [""] * n)
    r = cross_validate_texture(ds, TextureSetting(c=1.0), k=4, seed=0)
    assert sorted(r["index"]) == list(range(n)) and not np.isnan(r["scores"]).any()
    assert r["per_dataset"]["set"]["auc"] > 0.95


def test_tolerance_sets_bits_only_for_clearly_brighter_neighbours():
    flat = context_tensor(np.full((1, 16, 16, 3), 100, np.uint8))
    v = context_view(flat, 16, 1, 16)
    assert (ColourTexture(tolerance=0).codes(v) % 256 == 255).all()   # ties count as brighter
    assert (ColourTexture(tolerance=2).codes(v) % 256 == 0).all()     # a flat patch has no edges
    step = np.full((1, 16, 16, 3), 100, np.uint8)
    step[:, :, 8:] = 140                                               # brighter to the right
    c = ColourTexture(tolerance=2).codes(context_view(context_tensor(step), 16, 1, 16))[0, 0].view(14, 14)
    assert int(c[5, 6]) == (1 << 2) | (1 << 3) | (1 << 4)              # NE, E, SE neighbours across the step


def test_grid_histograms_are_per_cell_and_add_up_to_the_whole():
    rng = np.random.default_rng(5)
    img = np.full((1, 64, 64, 3), 120, np.uint8)
    img[:, :, 32:] = np.clip(120 + rng.integers(-30, 31, (1, 64, 32, 3)), 0, 255)   # right half grainy
    v = context_view(context_tensor(img), 64, 1, 64)
    whole = ColourTexture(tolerance=2).histograms(v)[0]
    cells = ColourTexture(tolerance=2, grid=2).histograms(v)[0].view(4, 768)   # TL, TR, BL, BR
    assert ColourTexture(grid=2, chi2_steps=2).n_features() == 4 * 768 * 3
    assert torch.allclose(cells.sum(1), torch.full((4,), 3.0))                 # each channel-cell sums to 1
    assert torch.allclose(cells.mean(0), whole, atol=1e-6)                     # equal cells: mean = whole view
    flat_y = cells[:, 0]                                                       # share of code 0 in the Y channel
    assert flat_y[0] > 0.9 and flat_y[2] > 0.9 and flat_y[1] < 0.2 and flat_y[3] < 0.2
    with pytest.raises(ValueError, match="grid"):
        fit_texture(np.zeros((4, 768), np.float32), np.array([0, 1, 0, 1]), TextureSetting(grid=2))


def test_sigma_step_reads_a_step_relative_to_the_views_contrast():
    """With a sigma step, a 2-level step is an edge in a flat, dim view and not in a contrasty one."""
    img = np.full((1, 32, 32, 3), 100, np.uint8)
    img[:, :16, 16:] = 102                                     # a faint step in the top half
    loud = img.copy()
    loud[:, 24:] = np.where(np.arange(32) % 2, 0, 255).astype(np.uint8)[None, None, :, None]   # stripes below
    br = ColourTexture(tolerance=1, sigma_step=24.0)

    def east_bit(im, branch):   # the Y code at pixel (6, 15), whose east neighbour is across the step
        return int(branch.codes(context_view(context_tensor(im), 32, 1, 32))[0, 0].view(30, 30)[5, 14]) >> 3 & 1

    assert east_bit(img, br) == 1 and east_bit(loud, br) == 0
    assert east_bit(img, ColourTexture(tolerance=1)) == east_bit(loud, ColourTexture(tolerance=1)) == 1
    for im in (img, loud):   # grey: Y is the level, Cr = Cb = 128 (flat: the least tolerance)
        gray = im[0, :, :, 0].astype(np.float32)
        v = torch.from_numpy(np.stack([gray, np.full_like(gray, 128), np.full_like(gray, 128)])[None])
        want = [max(1.0, float(np.ceil(gray.std() / 24.0))), 1.0, 1.0]
        assert br.tolerances(v)[0, :, 0, 0].tolist() == want
    assert ColourTexture(tolerance=2).tolerances(v) == 2.0   # no sigma step: the fixed tolerance


def _lpq_reference(levels: np.ndarray, window: int, tolerance: float) -> np.ndarray:
    """LPQ codes of one (H, W) channel written out from the definition: per pixel, the window's
    Fourier coefficients at (a, 0), (0, a), (a, a), (-a, a), a = 1 / window, as (x, y)
    frequencies; bits from the real then imaginary part of each, in that order."""
    r = (window - 1) // 2
    off = np.arange(-r, r + 1)
    a = 1.0 / window
    freqs = [(a, 0.0), (0.0, a), (a, a), (-a, a)]
    h, w = levels.shape
    out = np.zeros((h - 2 * r, w - 2 * r), np.int64)
    for i in range(r, h - r):
        for j in range(r, w - r):
            patch = levels[i - r:i + r + 1, j - r:j + r + 1]
            code, bit = 0, 0
            for fx, fy in freqs:
                c = np.sum(patch * np.exp(-2j * np.pi * (fy * off[:, None] + fx * off[None, :])))
                for part in (c.real, c.imag):
                    code |= int(part > tolerance) << bit
                    bit += 1
            out[i - r, j - r] = code
    return out


def test_lpq_codes_follow_the_definition():
    from marginlive.liveness.texture import PhaseTexture
    rng = np.random.default_rng(6)
    img = cv2.GaussianBlur(rng.integers(0, 256, (1, 24, 24, 3), dtype=np.uint8)[0], (0, 0), 1.0)[None]
    v = context_view(context_tensor(img), 24, 1, 24)
    levels = PhaseTexture.ycrcb(v)[0].numpy().astype(np.float64)
    for window, tolerance in ((7, 20.0), (5, 0.5), (3, 10.1)):   # 3: parts are quarter levels
        got = PhaseTexture(tolerance=tolerance, window=window).code_map(v)[0].numpy()
        for ch in range(3):
            want = _lpq_reference(levels[ch], window, tolerance)
            # float sums in another order: a part within rounding of the tolerance may differ
            assert np.mean(got[ch] == want) > 0.995, (window, tolerance, ch)
        every2 = PhaseTexture(stride=2, tolerance=tolerance, window=window).code_map(v)[0].numpy()
        assert np.array_equal(every2, got[:, ::2, ::2])
    flat = context_view(context_tensor(np.full((1, 16, 16, 3), 90, np.uint8)), 16, 1, 16)
    assert (PhaseTexture(tolerance=20).code_map(flat) == 0).all()   # a flat patch: every part near 0


def test_lpq_codes_survive_a_blur_that_changes_lbp_codes():
    """LPQ's point: the low-frequency phase of a neighbourhood survives a mild symmetric blur."""
    from marginlive.liveness.texture import PhaseTexture
    rng = np.random.default_rng(7)
    img = cv2.GaussianBlur(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), (0, 0), 2.0)
    soft = cv2.GaussianBlur(img, (0, 0), 0.8)
    v, vs = (context_view(context_tensor(i[None]), 128, 1, 128) for i in (img, soft))
    same = lambda br: float((br.code_map(v) == br.code_map(vs)).float().mean())   # noqa: E731
    lpq, lbp = same(PhaseTexture(tolerance=0)), same(ColourTexture(tolerance=0))
    assert lpq > 0.7 and lpq > lbp + 0.15, (lpq, lbp)   # here about 0.75 against 0.56


def test_fitted_lpq_branch_exports_and_separates_texture(tmp_path):
    from marginlive.training.export import export_onnx
    from marginlive.training.texture import texture_meta
    rng = np.random.default_rng(8)
    ctx = np.concatenate([_contexts(12, rng, False), _contexts(12, rng, True)])
    labels = np.array([1] * 12 + [0] * 12, np.float32)
    lpq = TextureSetting(kind="lpq", c=1.0)
    h = texture_histograms(ctx, lpq)
    assert h.shape == (24, 4 * 768)
    branch = fit_texture(h, labels, lpq)
    assert texture_meta(branch, 0.2)["arch"] == "phase-texture" and texture_meta(branch, 0.2)["window"] == 7
    model = MultiScale([(4.0, branch, 128)])
    p = export_onnx(model, tmp_path / "lpq.onnx", {"name": "t", "input_size": 256, "margin": 4.0, "threshold": 0.5},
                    check_crops=ctx[::3], deployable=True, atol=1e-4)
    test = np.concatenate([_contexts(4, rng, False), _contexts(4, rng, True)])
    got = LivenessModel(p).predict(test)
    assert (got[:4] > 0.5).all() and (got[4:] < 0.5).all()
    for bad in (dict(kind="lbq"), dict(kind="lpq", sigma_step=24.0), dict(kind="lpq", window=6)):
        with pytest.raises(ValueError):
            TextureSetting(**bad).branch()


def test_face_branch_reads_the_face_box_alone(tmp_path):
    """A branch on the face box alone (1x at 64 px): it sees only the centre 64 px of the context,
    so grain around the face changes nothing and grain on it is found; fitted, described (its
    margin in the metadata and in a leave-groups-out config) and exported beside a context branch."""
    from marginlive.training.dataset import Dataset
    from marginlive.training.export import export_onnx
    from marginlive.training.texture import FACE_MARGIN, FACE_SIZE, cross_validate_texture, texture_meta
    rng = np.random.default_rng(9)
    smooth, grainy = _contexts(16, rng, False), _contexts(16, rng, True)

    def face_from(face, rest):   # the centre 64 px (the 1x face box of a 4x context) from ``face``
        out = rest.copy()
        out[:, 96:160, 96:160] = face[:, 96:160, 96:160]
        return out
    real, fake = face_from(smooth, grainy), face_from(grainy, smooth)   # the surround says the opposite
    face, lpq = TextureSetting(kind="lpq", margin=FACE_MARGIN, size=FACE_SIZE, c=1.0), TextureSetting(kind="lpq", c=1.0)
    h = texture_histograms(real, face)
    assert np.array_equal(h, texture_histograms(face_from(real, smooth), face))    # the surround is not read
    assert not np.array_equal(texture_histograms(real, lpq), texture_histograms(face_from(real, smooth), lpq))
    ctx = np.concatenate([real[:12], fake[:12]])
    labels = np.array([1] * 12 + [0] * 12, np.float32)
    branch = fit_texture(texture_histograms(ctx, face), labels, face)
    assert texture_meta(branch, 0.1, FACE_SIZE, FACE_MARGIN)["margin"] == 1.0
    context = fit_texture(texture_histograms(ctx, lpq), labels, lpq)
    model = MultiScale([(FACE_MARGIN, branch, FACE_SIZE), (4.0, context, 128)], weights=[1.0, 0.0])
    p = export_onnx(model, tmp_path / "face.onnx", {"name": "t", "input_size": 256, "margin": 4.0, "threshold": 0.5},
                    check_crops=ctx[::3], deployable=True, atol=1e-4)
    got = LivenessModel(p).predict(np.concatenate([real[12:], fake[12:]]))
    assert (got[:4] > 0.5).all() and (got[4:] < 0.5).all()
    n = 32
    ds = Dataset(np.concatenate([real, fake]), np.array([1] * 16 + [0] * 16), np.array([f"g{i % 8}" for i in range(n)]),
                 np.array([""] * 16 + ["print"] * 16), np.array(["set"] * n), [""] * n)
    r = cross_validate_texture(ds, face, k=4, seed=0)
    assert r["config"]["margin"] == 1.0 and r["config"]["size"] == 64
    assert r["per_dataset"]["set"]["auc"] > 0.95


def _hog_reference(levels: np.ndarray, black: np.ndarray, cells: int, bins: int, clip: float) -> np.ndarray:
    """HOG of one (S, S) channel written out pixel by pixel: central differences (border
    replicated), gradients next to a black pixel dropped, the orientation by arctan2 and each
    bin's share max(0, cos 2(theta - centre) - cos(360 / bins)) / (1 - cos(360 / bins)), each
    pixel's vote split between the cell centres by bilinear weights, 2x2-cell blocks L2-Hys normalised."""
    s = levels.shape[0]
    c = s // cells
    p = np.pad(levels, 1, mode="edge")
    near_black = np.pad(black, 1)
    floor = np.cos(2 * np.pi / bins)
    hist = np.zeros((cells, cells, bins))
    for i in range(s):
        for j in range(s):
            if near_black[i:i + 3, j:j + 3].any():
                continue
            gx, gy = p[i + 1, j + 2] - p[i + 1, j], p[i + 2, j + 1] - p[i, j + 1]
            m, theta = np.hypot(gx, gy), np.arctan2(gy, gx)
            share = [max(0.0, np.cos(2 * theta - 2 * np.pi * b / bins) - floor) / (1 - floor) for b in range(bins)]
            for ci in range(cells):
                wy = max(0.0, 1 - abs(i + 0.5 - (ci + 0.5) * c) / c)
                for cj in range(cells):
                    wx = max(0.0, 1 - abs(j + 0.5 - (cj + 0.5) * c) / c)
                    hist[ci, cj] += wy * wx / c ** 2 * m * np.array(share)
    out = []
    for dy in (0, 1):
        for dx in (0, 1):
            out.append(hist[dy:dy + cells - 1, dx:dx + cells - 1])   # (cells-1, cells-1, bins) per block corner
    blocks = np.concatenate([np.moveaxis(o, -1, 0) for o in out])   # (4 * bins, cells-1, cells-1)
    blocks = blocks / np.sqrt((blocks ** 2).sum(0) + 1e-2)
    blocks = np.minimum(blocks, clip)
    blocks = blocks / np.sqrt((blocks ** 2).sum(0) + 1e-3)
    return blocks.ravel()


def test_hog_follows_the_definition_and_leaves_the_padding_out():
    from marginlive.liveness.texture import GradientHistogram
    rng = np.random.default_rng(9)
    img = cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (0, 0), 1.5)
    img[:, :5] = 0                      # black padding on the left, as where the context overruns the frame
    v = context_view(context_tensor(img[None]), 32, 1, 32)
    levels = ColourTexture.ycrcb(v)[0, 0].numpy().astype(np.float64)
    black = (img.sum(2) == 0)
    for cells, bins in ((4, 9), (2, 6)):
        got = GradientHistogram(cells, bins).histograms(v)[0].numpy()
        want = _hog_reference(levels, black, cells, bins, 0.2)
        assert got.shape == (4 * bins * (cells - 1) ** 2,) and np.allclose(got, want, atol=1e-4), cells
    # a flat grey view beside black padding: masked, no edge at all; unmasked, the padding's edge
    flat = np.full((1, 32, 32, 3), 120, np.uint8)
    flat[:, :, :8] = 0
    fv = context_view(context_tensor(flat), 32, 1, 32)
    assert float(GradientHistogram(4).histograms(fv).abs().max()) == 0.0
    assert float(GradientHistogram(4, mask_padding=False).histograms(fv).abs().max()) > 0.1


def _framed(n, rng, bezel):
    return bezel_views(n, rng, bezel)


def test_fitted_hog_branch_finds_a_bezel_and_exports(tmp_path):
    from marginlive.liveness.texture import GradientHistogram
    from marginlive.training.export import export_onnx
    from marginlive.training.texture import HOG_SIZE, texture_meta
    rng = np.random.default_rng(10)
    ctx = np.concatenate([_framed(12, rng, False), _framed(12, rng, True)])
    labels = np.array([1] * 12 + [0] * 12, np.float32)           # a bezel in view = "fake"
    hog = TextureSetting(kind="hog", size=HOG_SIZE, c=1.0)
    h = texture_histograms(ctx, hog)
    assert h.shape == (24, 4 * 9 * 7 * 7)
    branch = fit_texture(h, labels, TextureSetting(kind="hog", size=HOG_SIZE, c=1.0, chi2_steps=0))
    assert torch.equal(fit_texture(h, labels, hog).weight, branch.weight)   # HOG's default: no map
    meta = texture_meta(branch, 0.2, HOG_SIZE)
    assert meta["arch"] == "gradient-histogram" and (meta["cells"], meta["bins"], meta["size"]) == (8, 9, 256)
    p = export_onnx(MultiScale([(4.0, branch, HOG_SIZE)]), tmp_path / "hog.onnx",
                    {"name": "t", "input_size": 256, "margin": 4.0, "threshold": 0.5},
                    check_crops=ctx[::3], deployable=True, atol=1e-4)
    test = np.concatenate([_framed(4, rng, False), _framed(4, rng, True)])
    got = LivenessModel(p).predict(test)
    assert (got[:4] > 0.5).all() and (got[4:] < 0.5).all()
    for bad in (dict(kind="hog", tolerance=2), dict(kind="hog", chi2_steps=2), dict(kind="hog", stride=2)):
        with pytest.raises(ValueError):
            TextureSetting(**bad).branch()
    with pytest.raises(ValueError):
        GradientHistogram(cells=1)
    with pytest.raises(ValueError):
        GradientHistogram(cells=8).histograms(torch.zeros(1, 3, 100, 100))   # 100 px: no 8 whole cells
    with pytest.raises(ValueError):
        fit_texture(h[:, :100], labels, hog)


def test_shipped_texture_set_is_the_default_recipes():
    """The shipped model's hand-crafted branches are the default recipe's views with their weights
    (so the recipe and the model file cannot drift apart), and ``train --texture`` fits that set."""
    from marginlive.liveness.runtime import LivenessModel, default_model_path
    from marginlive.training.recipes import DEFAULT
    from marginlive.training.texture import LOGIT_LIMIT, fit_texture_branches
    arch = {"lbp": "colour-texture", "lpq": "phase-texture"}
    branches = LivenessModel(default_model_path()).meta["branches"]
    shipped = [(b["arch"], b["margin"], b["size"], b["weight"], b.get("logit_limit"))
               for b in branches if b["arch"] in arch.values()]
    total = (sum(v.weight for v in DEFAULT.texture) + DEFAULT.network_weight + DEFAULT.silentface_weight
             + DEFAULT.silentface_probe.weight)
    # the metadata keeps six decimals of each weight
    assert shipped == [(arch[v.kind], 4.0, v.size, round(v.weight / total, 6), LOGIT_LIMIT)
                       for v in DEFAULT.texture]
    with pytest.raises(ValueError):
        fit_texture_branches(np.zeros((2, 256, 256, 3), np.uint8), np.array([0, 1]), "all")


def test_logit_limit_bounds_a_branch_and_exports(tmp_path):
    """A clipped branch (bounded_logit) stays within +-limit however far its features go, keeps its
    order inside the limit, and the exported graph clips alike."""
    from marginlive.training.export import export_onnx
    from marginlive.training.texture import texture_meta
    rng = np.random.default_rng(4)
    ctx = np.concatenate([_contexts(12, rng, False), _contexts(12, rng, True)])
    labels = np.array([1] * 12 + [0] * 12, np.float32)
    h = texture_histograms(ctx)
    one = TextureSetting(c=1.0)
    free, bounded = fit_texture(h, labels, one), fit_texture(h, labels, one, logit_limit=2.0)
    x = context_view(context_tensor(ctx), 256, 2)
    with torch.no_grad():
        zf, zb = free(x), bounded(x)
    assert zf.abs().max() > 2.5                       # this fit is confident: the limit has work to do
    assert zb.abs().max() <= 2.0 + 1e-6 and torch.equal(zb, zf.clamp(-2, 2))
    assert texture_meta(bounded, 0.3)["logit_limit"] == 2.0 and "logit_limit" not in texture_meta(free, 0.3)
    torch.manual_seed(0)
    model = MultiScale({4.0: (bounded, 128), 2.0: build("livenessnet").eval()}, weights=[1.0, 0.0])
    p = export_onnx(model, tmp_path / "bounded.onnx", {"name": "t", "input_size": 256, "margin": 4.0, "threshold": 0.5},
                    check_crops=ctx[::3], deployable=True, atol=1e-5)
    got = LivenessModel(p).predict(ctx)
    lo, hi = 1 / (1 + np.exp(2.0)), 1 / (1 + np.exp(-2.0))
    assert got.min() >= lo - 1e-5 and got.max() <= hi + 1e-5
    assert (got[:12] > 0.5).all() and (got[12:] < 0.5).all()
    with pytest.raises(ValueError):
        fit_texture(h, labels, logit_limit=-1.0)


def test_block_sums_pool_the_bytes_as_the_average_pyramid_does():
    from marginlive.liveness.views import block_sums
    crops = torch.from_numpy(_contexts(3, np.random.default_rng(7), True))
    x = context_tensor(crops)
    for k in (2, 4, 8):
        pyramid = x
        for _ in range(k.bit_length() - 1):
            pyramid = torch.nn.functional.avg_pool2d(pyramid, 2)
        # the same floats: sums of whole levels, scaled once, against averages of averages
        assert torch.equal(block_sums(crops, k) * (1.0 / (k * k * 255.0)), pyramid * (1.0 / 255.0))
    with pytest.raises(ValueError, match="blocks"):
        block_sums(crops, 3)


def test_multiscale_views_equal_the_training_views():
    """The fused graph pools the context from its bytes; training cuts each view with context_view:
    every branch must see the same pixels (the 2x view cut from the 2x pooled level, the 4x whole)."""
    crops = _contexts(2, np.random.default_rng(8), False)
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, v):
            seen.append(v)
            return v.mean((1, 2, 3))

    # the last view (250 px pooled by 2) shares its factor with aligned ones but starts at an odd pixel
    MultiScale([(4.0, Probe(), 64), (2.0, Probe(), 64), (4.0, Probe(), 128), (3.90625, Probe(), 125)])(
        torch.from_numpy(crops))
    x = context_tensor(crops)
    for v, (side, pool) in zip(seen, [(256, 4), (128, 2), (256, 2), (250, 2)], strict=True):
        assert torch.equal(v, context_view(x, side, pool))


@pytest.mark.parametrize("size, grid", [(64, 2), (66, 3)])
def test_logit_by_table_equals_the_chi2_map(size, grid):
    """Equal cells (64 px, 2x2: 31 x 31 codes each) take the table of the map; unequal ones (64 codes
    in 3 cells) the map itself: either way the linear model on the mapped histograms."""
    rng = np.random.default_rng(9)
    v = torch.from_numpy(rng.integers(0, 256, (4, 3, size, size)).astype(np.float32) / 255.0)
    br = ColourTexture(tolerance=2, chi2_steps=2, grid=grid)
    br.weight.data = torch.from_numpy(rng.normal(size=(br.n_features(), 1)).astype(np.float32))
    br.bias.data = torch.tensor(-0.2)
    uniform = br.counts(v)[2]
    assert bool(uniform) == (size == 64)
    want = (br.features(br.histograms(v)) @ br.weight)[:, 0] + br.bias
    assert torch.allclose(br(v), want, atol=1e-5)
