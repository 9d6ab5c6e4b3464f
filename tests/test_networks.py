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

