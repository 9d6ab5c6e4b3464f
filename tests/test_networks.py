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
