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


def _greedy(log_probs: torch.Tensor) -> str:
    """Best-path CTC decoding of one sequence ``(T, C)``: collapse repeats, drop blanks."""
    from reid.nets import PLATE_ALPHABET

    best = log_probs.argmax(1).tolist()
    return "".join(PLATE_ALPHABET[c - 1] for i, c in enumerate(best) if c and (i == 0 or best[i - 1] != c))


def test_plate_reader_reads_all_rows_then_the_upper_then_the_lower_rows() -> None:
    from reid.nets import PlateTextHead

    reader = PlateTextHead(6)
    maps = torch.randn(2, 6, 4, 5)
    out = reader(maps)
    assert out.shape == (15, 2, reader.proj.out_features)
    lower_changed = maps.clone()
    lower_changed[:, :, 2:] += 1.0
    again = reader(lower_changed)
    assert not torch.allclose(again[:5], out[:5])  # first pass: all rows
    assert torch.equal(again[5:10], out[5:10])  # second pass: upper rows only
    assert not torch.allclose(again[10:], out[10:])  # third pass: lower rows
    upper_changed = maps.clone()
    upper_changed[:, :, :2] += 1.0
    assert torch.equal(reader(upper_changed)[10:], out[10:])


def test_plate_reader_can_read_single_and_double_line_plates_in_text_order() -> None:
    """Feature maps with one code per column and row band, as a backbone would see the glyphs: a
    single-line plate's character spans all rows (upper half of the glyph above, lower half
    below); a double-line plate's upper line fills the upper rows and its lower line the lower
    rows, each a whole smaller glyph. With weights that name each glyph code's character (the
    first pass reading the halves of a tall glyph, the other two whole small glyphs), the passes
    read both kinds in text order, and CTC scores the texts as near certain. One pass over all
    rows could not read a double-line plate: each of its columns holds two characters of
    different places in the text."""
    import torch.nn.functional as F

    from reid.nets import PLATE_ALPHABET, PlateTextHead, encode_plate_text

    n = len(PLATE_ALPHABET)
    upper_half, lower_half, whole = torch.eye(3 * n).split(n)

    def plate(upper: str, lower: str = "", width: int = 12) -> torch.Tensor:
        maps = torch.zeros(3 * n, 4, width)
        for rows, line, glyphs in (
            (slice(0, 2), upper, whole if lower else upper_half),
            (slice(2, 4), lower if lower else upper, whole if lower else lower_half),
        ):
            for j, char in enumerate(line):  # a gap column between characters, as on a plate
                maps[:, rows, 2 * j + 1] = glyphs[PLATE_ALPHABET.index(char)][:, None]
        return maps

    reader = PlateTextHead(3 * n)
    with torch.no_grad():
        for head, reads in (
            (reader.proj, (upper_half, lower_half)),  # the mean of the rows: half of each
            (reader.upper, (whole, whole)),
            (reader.lower, (whole, whole)),
        ):
            head.weight.zero_()
            head.bias.zero_()
            head.bias[0] = 15.0  # blank where no glyph names a character
            for glyphs in reads:
                head.weight[1:] += 40.0 * glyphs
    maps = torch.stack([plate("AB123"), plate("皖A", "Y339S"), plate("7KQ"), plate("XY", "905")])
    texts = ["AB123", "皖AY339S", "7KQ", "XY905"]
    with torch.no_grad():
        log_probs = reader(maps)
    assert [_greedy(log_probs[:, i]) for i in range(len(texts))] == texts
    targets, lengths = encode_plate_text(texts)
    steps = torch.full((len(texts),), log_probs.shape[0], dtype=torch.int64)
    assert float(F.ctc_loss(log_probs, targets, steps, lengths, blank=0)) < 0.01
