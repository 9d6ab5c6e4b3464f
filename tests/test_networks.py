"""The liveness networks by name: one finite logit per image."""
import pytest

torch = pytest.importorskip("torch")

from marginlive.liveness.networks import ARCHS, build  # noqa: E402


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_network_gives_one_logit_per_image(arch):
    net = build(arch, 64).eval()
    with torch.no_grad():
        out = net(torch.rand(3, 3, 64, 64))
    assert out.shape == (3,)
    assert torch.isfinite(out).all()


def test_space_to_depth_stem_halves_the_map_and_reads_every_pixel():
    """The fast student's stem: the first map is half the side, and each of the four pixels of a
    2x2 block moves it (a stride-2 convolution's map would be as small but blur the finest texture)."""
    from marginlive.liveness.networks import MiniResNet
    net = MiniResNet(96, stem="space-to-depth").eval()
    stem = net.features[:4]
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        base = stem(x)
        assert base.shape == (1, 24, 48, 48)
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            y = x.clone()
            y[0, :, 40 + dy, 40 + dx] += 0.5
            assert (stem(y) - base).abs().max() > 0
    with pytest.raises(ValueError, match="unknown stem"):
        MiniResNet(96, stem="pool")


@pytest.mark.parametrize("channels", [16, 32])
def test_another_stem_width_changes_only_the_first_map(channels):
    """minires-16 / minires-32: the 96 px map has that many channels, every later layer is the
    default student's, so the default's weights after the first stage load into it unchanged."""
    from marginlive.liveness.networks import MiniResNet
    narrow, wide = build(f"minires-{channels}", 96).eval(), MiniResNet(96).eval()
    with torch.no_grad():
        assert narrow.features[:3](torch.rand(2, 3, 96, 96)).shape == (2, channels, 96, 96)
    shapes = {k: v.shape for k, v in wide.state_dict().items()}
    differ = {k for k, v in narrow.state_dict().items() if shapes[k] != v.shape}
    assert differ and all(k.startswith(("features.0.", "features.1.", "features.3.body.0.",
                                        "features.3.body.1.", "features.3.body.3.", "features.3.skip.0."))
                          for k in differ)


def _luma(x):
    return 0.114 * x[:, 0] + 0.587 * x[:, 1] + 0.299 * x[:, 2]


def test_tone_norm_brings_each_image_to_one_brightness_and_keeps_the_padding_black():
    """A dark and a bright copy of one picture come out at nearly the same mean luma (their lit
    pixels), each image of a batch on its own; the margin crop's black padding stays black and
    does not count; the gamma stays within its limit."""
    from marginlive.liveness.networks import ToneNorm
    torch.manual_seed(0)
    scene = torch.rand(1, 3, 32, 32) * 0.6 + 0.2
    batch = torch.cat([scene ** 1.5, scene ** 0.7, scene])
    batch[2, :, :, :16] = 0                          # half the third image is padding
    norm = ToneNorm(target=0.45)
    out = norm(batch)
    lit = _luma(out[:2]).mean((1, 2))
    assert abs(float(lit[0] - lit[1])) < 0.05 and abs(float(lit.mean()) - 0.45) < 0.05
    assert float(out[2, :, :, :16].abs().max()) < 1e-2
    assert abs(float(_luma(out[2:, :, :, 16:]).mean()) - 0.45) < 0.05
    dark = norm(torch.full((1, 3, 8, 8), 0.02))       # far too dark: brightened by the limit only
    assert float(dark.mean()) == pytest.approx(0.02 ** (1 / 1.8), rel=1e-3)


def test_grey_world_takes_a_cast_out_and_keeps_the_padding_black():
    """A warm and a cool copy of one picture come out alike (each image of a batch on its own); a
    picture whose channels already share one mean passes unchanged; the black padding stays black
    and does not count; no gain goes past its limit."""
    from marginlive.liveness.networks import GreyWorld
    torch.manual_seed(0)
    scene = torch.rand(1, 3, 32, 32) * 0.5 + 0.2
    scene = scene / scene.mean((2, 3), keepdim=True) * 0.45             # channel means alike
    warm, cool = (scene * torch.tensor([0.8, 1.0, 1.25]).view(1, 3, 1, 1),
                  scene * torch.tensor([1.25, 1.0, 0.8]).view(1, 3, 1, 1))
    padded = warm.clone()
    padded[:, :, :, :16] = 0                                             # half of it padding
    out = GreyWorld()(torch.cat([warm, cool, scene, padded]))
    assert float((out[0] - out[1]).abs().max()) < 1e-5
    assert float((out[2] - scene[0]).abs().max()) < 1e-5
    assert float(out[3, :, :, :16].abs().max()) == 0.0
    lit = out[3, :, :, 16:].mean((1, 2))
    assert float(lit.max() - lit.min()) < 1e-5
    red = torch.zeros(1, 3, 8, 8)
    red[:, 2] = 0.6
    red[:, :2] = 0.01                                                    # a cast far past the limit
    capped = GreyWorld(limit=2.0)(red)
    assert float(capped[0, 0].mean()) == pytest.approx(0.02, rel=1e-4)
    assert float(capped[0, 2].mean()) == pytest.approx(0.3, rel=1e-4)
