import pytest
import torch

from pipeline.errors import ConfigError, DataError
from pipeline.model import CSRNet, ModelConfig, build_model, count_parameters, load_vgg16_frontend


def test_full_width_csrnet_has_the_papers_parameter_count():
    assert count_parameters(CSRNet(1.0)) == 16_263_489  # 16.26 M


def test_output_is_one_channel_at_one_eighth_resolution():
    out = CSRNet(0.125)(torch.zeros(2, 3, 64, 96))
    assert out.shape == (2, 1, 8, 12)


def test_width_scales_channels_and_batch_norm_adds_layers():
    small = CSRNet(0.25)
    assert small.frontend[0].out_channels == 16 and small.backend[-2].out_channels == 16
    bn = CSRNet(0.25, batch_norm=True)
    assert isinstance(bn.frontend[1], torch.nn.BatchNorm2d)


def _vgg_state(model: CSRNet, seed: int) -> dict:
    """A torchvision-format state dict (features.* plus a classifier) built from the frontend's shapes."""
    g = torch.Generator().manual_seed(seed)
    state = {
        f"features.{k}": torch.randn(v.shape, generator=g)
        for k, v in model.frontend.state_dict().items()
        if v.dtype.is_floating_point
    }
    state["classifier.0.weight"] = torch.randn(4, 4, generator=g)
    return state


@pytest.mark.parametrize("batch_norm", [False, True])
def test_pretrained_vgg16_weights_initialise_the_frontend(tmp_path, batch_norm):
    probe = CSRNet(1.0, batch_norm)
    state = _vgg_state(probe, seed=1)
    torch.save(state, tmp_path / "vgg16.pth")
    model = build_model(ModelConfig(width=1.0, batch_norm=batch_norm, pretrained=str(tmp_path / "vgg16.pth")))
    assert torch.equal(model.frontend[0].weight, state["features.0.weight"])
    last_conv = "features.30.weight" if batch_norm else "features.21.weight"
    convs = [m for m in model.frontend if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10 and torch.equal(convs[-1].weight, state[last_conv])


def test_wrong_pretrained_files_are_refused(tmp_path):
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(DataError, match="bad.pth: not a torchvision VGG-16"):
        load_vgg16_frontend(CSRNet(1.0), tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match="model.pretrained needs model.width 1.0"):
        load_vgg16_frontend(CSRNet(0.5), tmp_path / "bad.pth")


def test_the_benchmarks_plain_csrnet_has_the_same_shape():
    from pipeline.bench.reference import plain_csrnet

    plain, ours = plain_csrnet(), CSRNet(1.0)
    assert count_parameters(plain) == count_parameters(ours)
    assert [p.shape for p in plain.parameters()] == [p.shape for p in ours.parameters()]


@pytest.mark.parametrize("shape", [(2, 3, 8, 10), (1, 2, 7, 9)])
def test_pooling_without_autograd_gives_atens_values_and_training_keeps_atens_backward(shape):
    """The inference pool (three maxima) equals max_pool2d, odd sizes and NaN included; with a gradient ATen runs."""
    from pipeline.pool import MaxPool2d

    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    x[0, 0, 1, 1] = float("nan")
    x[0, 1, 2:4, 2:4] = 1.5  # a tie
    pool = MaxPool2d()
    with torch.no_grad():
        got = pool(x)
    want = torch.nn.functional.max_pool2d(x, 2, 2)
    assert got.shape == want.shape and torch.equal(got.isnan(), want.isnan())
    assert torch.equal(got.nan_to_num(), want.nan_to_num())
    leaf = x.nan_to_num().requires_grad_()
    pool(leaf).sum().backward()
    assert leaf.grad[0, 1, 2:4, 2:4].sum() == 1  # max_pool2d's one winner per window, not amax's shared gradient
    assert isinstance(torch.jit.script(torch.nn.Sequential(pool)), torch.jit.ScriptModule)
