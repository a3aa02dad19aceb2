"""The seed-001 backbone and the seed-004 networks: structure, shapes, outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reid.backbone import Backbone, BackboneSpec, Bottleneck, load_torchvision_state
from reid.nets import PLATE_SPEC, VEHICLE_SPEC, EmbeddingModel, build_net


def test_block_puts_batchnorm_before_each_conv_and_stride_on_the_3x3() -> None:
    block = Bottleneck(8, 4, 16, stride=2, project=True)
    assert (block.conv1.kernel_size, block.conv1.stride) == ((1, 1), (1, 1))
    assert (block.conv2.kernel_size, block.conv2.stride) == ((3, 3), (2, 2))
    assert (block.conv3.kernel_size, block.conv3.stride) == ((1, 1), (1, 1))
    assert [block.bn1.num_features, block.bn2.num_features, block.bn3.num_features] == [8, 4, 4]
    assert block.project is not None
    assert isinstance(block.project[0], nn.BatchNorm2d)  # BN → conv on the residual branch
    assert isinstance(block.project[1], nn.Conv2d)
    assert block(torch.zeros(2, 8, 16, 16)).shape == (2, 16, 8, 8)


def test_only_the_first_block_of_a_stage_projects() -> None:
    backbone = Backbone(BackboneSpec(depths=(2, 3), widths=(4, 8), out_channels=16))
    firsts = [stage[0].project is not None for stage in backbone.stages]
    rests = [block.project is None for stage in backbone.stages for block in list(stage)[1:]]
    assert all(firsts)
    assert all(rests)


@pytest.mark.parametrize(
    ("spec", "size", "out"),
    [
        (VEHICLE_SPEC, (128, 128), (128, 8, 8)),  # stem /4, stages /1 /2 /2 /1 (last stride 1)
        (BackboneSpec(last_stride=2), (96, 96), (128, 6, 6)),
        (BackboneSpec(stem_stride=4), (128, 128), (128, 8, 8)),  # conv /2 then max pool /2
        (PLATE_SPEC, (32, 128), (128, 4, 16)),  # 16 columns for 7-8 characters
    ],
)
def test_output_shapes(spec: BackboneSpec, size: tuple[int, int], out: tuple[int, int, int]) -> None:
    assert Backbone(spec)(torch.zeros(2, 3, *size)).shape == (2, *out)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"depths": (), "widths": ()},
        {"depths": (1, 1), "widths": (8,)},
        {"last_stride": 3},
        {"stem_stride": 3},
        {"depths": (0,), "widths": (8,)},
    ],
)
def test_bad_specs_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"depths|stride|positive"):
        BackboneSpec(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_net_outputs_and_embedding_model(pooling: str) -> None:
    torch.manual_seed(0)
    net = build_net(
        BackboneSpec(depths=(1, 1), widths=(4, 8), out_channels=16), num_classes=5, pooling=pooling
    )  # type: ignore[arg-type]
    net.eval()
    x = torch.randn(3, 3, 32, 32)
    out = net(x)
    assert out.pooled.shape == out.embedding.shape == (3, 16)
    assert out.logits.shape == (3, 5)
    emb = EmbeddingModel(net)(x)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(emb, torch.nn.functional.normalize(out.embedding, dim=1), atol=1e-6)


def test_pooled_feature_is_centred_by_the_training_mean() -> None:
    torch.manual_seed(0)
    net = build_net(BackboneSpec(depths=(1, 1), widths=(4, 8), out_channels=16), num_classes=5)
    net.train()
    for _ in range(50):  # the neck's running mean learns the mean pooled vector of these crops
        net(torch.randn(8, 3, 32, 32) + 2.0)
    net.eval()
    x = torch.randn(64, 3, 32, 32) + 2.0
    out = net(x)
    emb = EmbeddingModel(net, "pooled")(x)
    assert net.neck.running_mean is not None
    expected = torch.nn.functional.normalize(out.pooled - net.neck.running_mean, dim=1)
    assert torch.allclose(emb, expected, atol=1e-6)
    raw = torch.nn.functional.normalize(out.pooled, dim=1)
    # crops like the training ones: unrelated pairs near 0 once centred, near 1 without it
    assert (emb @ emb.T).mean() < 0.2 < 0.8 < (raw @ raw.T).mean()


def test_torchvision_state_copies_matching_shapes_only() -> None:
    backbone = Backbone(BackboneSpec(depths=(1,), widths=(4,), stem_channels=16, out_channels=8))
    fake = {
        "conv1.weight": torch.full((16, 3, 3, 3), 0.5),  # same shape as our stem: copied
        "layer1.0.conv1.weight": torch.full((4, 16, 1, 1), 0.25),  # same shape: copied
        "layer1.0.bn1.weight": torch.ones(64),  # torchvision BN sits after the conv: shape differs
        "fc.weight": torch.ones(10, 512),
    }
    copied = load_torchvision_state(backbone, fake)
    assert copied == ["stem.weight", "stages.0.0.conv1.weight"]
    assert torch.equal(backbone.stem.weight, fake["conv1.weight"])
