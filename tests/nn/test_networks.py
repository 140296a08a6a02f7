"""Tests of sk_spotting.nn networks: parameter counts (docs/method.md), shapes, init."""

# Shape legend: b batch, t frames, c classes, d features.

import math

import pytest
import torch
from torch import nn

from sk_spotting.nn import (
    HEADS,
    ConfidenceHead,
    DisplacementHead,
    InputMLP,
    SpottingNetwork,
    TransformerTrunk,
    UNetTrunk,
    _registry,
    available_trunks,
    build_network,
    confidence_loss,
    count_parameters,
    displacement_loss,
    get_trunk,
    register_trunk,
    unet_trunk,
    unregister_trunk,
)

N_CLASSES = 17
SMALL_FRAMES = 32
# Options that keep the forward/backward tests small and fast on a CPU.
SMALL_OPTIONS = {"n_levels": 3, "transformer_size": "small"}


# -- parameter counts (docs/method.md) ---------------------------------------------


@pytest.mark.parametrize(
    ("trunk", "options", "expected"),
    [
        ("unet", {"n_features": 512, "n_frames": 224}, 17_465_297),
        ("unet", {"n_features": 8576, "n_frames": 112}, 8_868_305),
        ("transformer", {"n_features": 512, "n_frames": 224}, 970_321),
        (
            "transformer",
            {"n_features": 512, "n_frames": 224, "transformer_size": "base"},
            9_669_457,
        ),
    ],
)
@pytest.mark.parametrize("head", HEADS)
def test_paper_parameter_counts(trunk, options, expected, head):
    network = build_network(trunk, n_classes=N_CLASSES, head=head, **options)
    assert count_parameters(network) == expected


def test_resnet_pca_unet_sub_counts():
    network = build_network("unet", n_features=512, n_classes=N_CLASSES, n_frames=224)
    assert network.trunk.n_levels == 6
    assert network.trunk.widths == [64, 128, 256, 512, 1024, 2048]
    assert count_parameters(network.input_mlp) == 147_776
    assert count_parameters(network.trunk) == 17_314_240
    assert count_parameters(network.head) == 3_281


def test_combination_unet_sub_counts():
    network = build_network("unet", n_features=8576, n_classes=N_CLASSES, n_frames=112)
    assert network.trunk.n_levels == 5
    assert count_parameters(network.input_mlp) == 4_539_200
    assert count_parameters(network.trunk) == 4_325_824
    assert count_parameters(network.head) == 3_281


@pytest.mark.parametrize(
    ("n_features", "widths"),
    [(512, [512, 256, 64]), (511, [511, 256, 64]), (8576, [8576, 512, 256, 64])],
)
def test_input_mlp_projection_only_above_512(n_features, widths):
    mlp = InputMLP(n_features=n_features)
    linears = [layer for layer in mlp.layers if isinstance(layer, nn.Linear)]
    assert [layer.in_features for layer in linears] + [64] == widths
    assert sum(isinstance(layer, nn.ReLU) for layer in mlp.layers) == len(linears)


# -- shapes, heads, gradients --------------------------------------------------


@pytest.mark.parametrize("trunk", available_trunks())
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("n_features", [37, 613])
def test_forward_backward_shapes(trunk, head, n_features):
    torch.manual_seed(0)
    n_classes = 50
    network = build_network(
        trunk,
        n_features=n_features,
        n_classes=n_classes,
        n_frames=SMALL_FRAMES,
        head=head,
        **SMALL_OPTIONS,
    )
    x = torch.randn(3, SMALL_FRAMES, n_features)
    out = network(x)
    assert out.shape == (3, SMALL_FRAMES, n_classes)
    assert out.dtype == torch.float32
    assert out.is_contiguous()
    target = torch.rand_like(out)
    weight = torch.ones_like(out)
    if head == "confidence":
        loss = confidence_loss(out, target, weight)
    else:
        loss = displacement_loss(out, 12.0 * target, weight, radius=12.0)
    loss.backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name


def test_frames_are_not_mixed_across_batch():
    torch.manual_seed(0)
    network = build_network(
        "unet", n_features=9, n_classes=4, n_frames=16, n_levels=3
    ).eval()
    x = torch.randn(2, 16, 9)
    with torch.no_grad():
        batched = network(x)
        single = network(x[1:])
    torch.testing.assert_close(batched[1:], single)


def test_displacement_output_bounded_by_radius():
    torch.manual_seed(0)
    radius = 6.0
    network = build_network(
        "unet",
        n_features=11,
        n_classes=50,
        n_frames=SMALL_FRAMES,
        head="displacement",
        displacement_radius=radius,
        n_levels=2,
    )
    with torch.no_grad():
        network.head.conv.weight.mul_(1e3)
        out = network(1e2 * torch.randn(2, SMALL_FRAMES, 11))
    assert out.abs().max() <= radius
    assert out.abs().max() > 0.99 * radius  # saturated: frames, not normalised
    assert isinstance(network.head, DisplacementHead)
    assert network.head.radius == radius


def test_displacement_head_rejects_bad_radius():
    with pytest.raises(ValueError, match="radius"):
        DisplacementHead(n_features_in=8, n_classes=2, radius=0.0)
    with pytest.raises(ValueError, match="radius"):
        build_network(
            "unet",
            n_features=8,
            n_classes=2,
            n_frames=8,
            head="displacement",
            displacement_radius=-1.0,
        )


def test_unet_output_is_relu_and_channels_first():
    torch.manual_seed(0)
    trunk = UNetTrunk(n_features_in=64, n_levels=3)
    out = trunk(torch.randn(2, 64, 16))
    assert out.shape == (2, 64, 16)
    assert (out >= 0).all()


# -- u-net levels ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_frames", "n_levels"),
    [(224, 6), (112, 5), (32, 6), (48, 5), (96, 6), (2048, 6), (7, 1), (6, 2)],
)
def test_unet_levels_derived_from_frames(n_frames, n_levels):
    assert UNetTrunk.default_n_levels(n_frames) == n_levels
    assert n_frames % 2 ** (n_levels - 1) == 0


def test_unet_levels_validation():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*3 = 8"):
        unet_trunk(n_frames=100, n_levels=4)
    with pytest.raises(ValueError, match="divisible"):
        build_network("unet", n_features=8, n_classes=2, n_frames=112, n_levels=6)
    with pytest.raises(ValueError, match="n_levels"):
        unet_trunk(n_frames=8, n_levels=0)
    assert unet_trunk(n_frames=100, n_levels=3).n_levels == 3


def test_n_levels_ignored_by_transformer():
    network = build_network(
        "transformer", n_features=8, n_classes=2, n_frames=16, n_levels=5
    )
    assert isinstance(network.trunk, TransformerTrunk)


# -- builder validation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"trunk": "lstm"}, "Unknown trunk"),
        ({"head": "offset"}, "Unknown head"),
        ({"transformer_size": "huge", "trunk": "transformer"}, "transformer size"),
        ({"n_classes": 0}, "n_classes"),
        ({"n_features": 2.5}, "n_features"),
        ({"n_frames": True}, "n_frames"),
    ],
)
def test_build_network_validation(kwargs, match):
    options = {"n_features": 8, "n_classes": 2, "n_frames": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_network(**options)


# -- registry --------------------------------------------------------------------


def test_builtin_trunks_registered():
    assert {"unet", "transformer"} <= set(available_trunks())


def test_register_custom_trunk(monkeypatch):
    monkeypatch.setattr(_registry, "_TRUNKS", dict(_registry._TRUNKS))

    class Conv(nn.Conv1d):
        n_features_out = 16

    @register_trunk("conv")
    def conv_trunk(*, n_features_in: int, n_frames: int) -> nn.Module:
        return Conv(n_features_in, 16, 1)

    assert "conv" in available_trunks()
    assert isinstance(get_trunk("conv", n_features_in=64, n_frames=4), Conv)
    network = build_network("conv", n_features=5, n_classes=3, n_frames=4, n_levels=2)
    assert network(torch.zeros(2, 4, 5)).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="already registered"):
        register_trunk("conv")(conv_trunk)
    unregister_trunk("conv")
    assert "conv" not in available_trunks()
    with pytest.raises(ValueError, match="Unknown trunk"):
        unregister_trunk("conv")


# -- initialisation (docs/method.md) ---------------------------------------


@pytest.mark.parametrize(("n_features", "n_out"), [(512, 256), (8576, 512)])
def test_first_layer_keras_init(n_features, n_out):
    torch.manual_seed(0)
    first = InputMLP(n_features=n_features).layers[0]
    limit = math.sqrt(6.0 / (n_features * (1 + n_out)))
    assert first.weight.shape == (n_out, n_features)
    assert first.weight.abs().max() <= limit
    assert first.weight.abs().max() > 0.99 * limit
    assert (first.bias == 0).all()
    second = InputMLP(n_features=n_features).layers[2]
    glorot = math.sqrt(6.0 / sum(second.weight.shape))
    assert second.weight.abs().max() > 0.99 * glorot


def test_biases_zero_and_conv_glorot():
    torch.manual_seed(0)
    network = build_network("unet", n_features=20, n_classes=5, n_frames=8, n_levels=2)
    for name, parameter in network.named_parameters():
        if name.endswith("bias"):
            assert (parameter == 0).all(), name
    conv = network.head.conv.weight  # (c, d, k)
    limit = math.sqrt(6.0 / (3 * (conv.shape[0] + conv.shape[1])))
    assert conv.abs().max() <= limit
    assert conv.abs().max() > 0.9 * limit


def test_displacement_head_not_zero_initialised():
    head = DisplacementHead(n_features_in=64, n_classes=17, radius=12.0)
    assert head.conv.weight.abs().sum() > 0
    assert (head.conv.bias == 0).all()
    assert (ConfidenceHead(n_features_in=64, n_classes=17).conv.bias == 0).all()


def test_transformer_init():
    torch.manual_seed(0)
    trunk = TransformerTrunk(n_frames=224)
    for tensor in (
        trunk.position,
        trunk.embedding.weight,
        trunk.layers[0].ffn[0].weight,
    ):
        assert tensor.abs().max() <= 0.04
        assert 0.012 < tensor.std() < 0.02
    attention = trunk.layers[0].attention
    assert attention.qkv.weight.shape == (3 * 128, 128)
    glorot = math.sqrt(6.0 / 256)
    assert glorot * 0.99 < attention.qkv.weight.abs().max() <= glorot
    assert glorot * 0.99 < attention.out.weight.abs().max() <= glorot
    for norm in (trunk.final_norm, trunk.layers[0].attention_norm):
        assert norm.eps == 1e-6


def test_transformer_attention_matches_reference():
    """The fused-projection attention equals a hand-written per-head softmax."""
    torch.manual_seed(0)
    attention = TransformerTrunk(n_frames=6, n_layers=1, n_hidden=8, n_heads=2)
    attention = attention.layers[0].attention
    x = torch.randn(2, 6, 8)
    q, k, v = torch.nn.functional.linear(
        x, attention.qkv.weight, attention.qkv.bias
    ).chunk(3, dim=-1)
    heads = []
    for head in range(2):
        part = slice(4 * head, 4 * head + 4)
        scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(4)
        heads.append(scores.softmax(-1) @ v[..., part])
    expected = attention.out(torch.cat(heads, dim=-1))
    torch.testing.assert_close(attention(x), expected)


def test_spotting_network_composition():
    network = SpottingNetwork(
        input_mlp=InputMLP(n_features=10),
        trunk=UNetTrunk(n_levels=1),
        head=ConfidenceHead(n_features_in=64, n_classes=2),
    )
    assert network(torch.zeros(1, 5, 10)).shape == (1, 5, 2)


def test_trunk_from_registry_is_unet():
    assert isinstance(get_trunk("unet", n_features_in=64, n_frames=8), UNetTrunk)


@pytest.mark.parametrize("size", ["small", "base"])
def test_transformer_sizes_forward(size):
    torch.manual_seed(0)
    network = build_network(
        "transformer",
        n_features=19,
        n_classes=50,
        n_frames=SMALL_FRAMES,
        head="displacement",
        transformer_size=size,
    )
    expected = {"small": 128, "base": 256}[size]
    assert network.trunk.n_features_out == expected
    assert network(torch.randn(2, SMALL_FRAMES, 19)).shape == (2, SMALL_FRAMES, 50)
