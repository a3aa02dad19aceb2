"""The joint trainer: it runs, it learns on an easy set, it resumes exactly; export agrees with torch."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import reid.train as reid_train
from config.schema import ReidTrainConfig
from formats import PlateSample
from formats.veri import veri_name, write_plate_sidecar, write_veri_lists
from reid.backbone import BackboneSpec
from reid.data import PKSampler
from reid.export import PARITY_TOLERANCE, export_onnx, parity
from reid.nets import PlateTextHead, build_net
from reid.train import BatchStream, TrainingError, load_checkpoint, lr_at, net_from_checkpoint, train_reid

SIZES = {"vehicle_input": (32, 32), "plate_input": (16, 96)}  # plate map: 12 columns


@pytest.fixture(scope="module")
def easy_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 identities × 4 crops, 2 cameras; each identity has its own colour and plate shade."""
    root = tmp_path_factory.mktemp("veri")
    rng = np.random.default_rng(0)
    names: list[str] = []
    plates: list[tuple[str, PlateSample]] = []
    (root / "image_train").mkdir()
    for identity in range(1, 7):
        colour = rng.integers(0, 256, 3)
        for k in range(4):
            crop = np.clip(colour + rng.normal(0, 12, (40, 40, 3)), 0, 255).astype(np.uint8)
            crop[26:34, 8:32] = 40 * identity  # the "plate"
            name = veri_name(identity, 1 + k % 2, 10 * k, k)
            cv2.imwrite(str(root / "image_train" / name), crop)
            names.append(name)
            if k != 3:  # one crop per identity has no readable plate
                corners = np.array([[8, 26], [32, 26], [32, 34], [8, 34]], np.float32)
                plates.append(
                    (
                        name,
                        PlateSample(root / "image_train" / name, "AB123CD", (8, 26, 32, 34), corners, "eu"),
                    )
                )
    write_veri_lists(root, {"train": names})
    write_plate_sidecar(root / "plates_train.csv", plates)
    return root


def _cfg(**kw: object) -> ReidTrainConfig:
    base = {
        "steps": 6,
        "identities_per_batch": 3,
        "samples_per_identity": 2,
        "warmup_steps": 2,
        "checkpoint_every": 1,
        "threads": 1,
        "lr": 3e-3,
    }
    return ReidTrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_training_runs_and_writes_a_checkpoint(easy_set: Path, tmp_path: Path) -> None:
    result, _ = train_reid(easy_set, tmp_path, _cfg(), **SIZES)  # type: ignore[arg-type]
    assert result.steps == 6
    assert result.identities == 6
    assert result.samples == 24
    assert result.samples_with_plate == 18
    assert set(result.final) >= {"total", "vehicle_triplet", "plate_cls", "kd", "bn"}
    assert all(np.isfinite(v) for v in result.final.values())
    payload = load_checkpoint(result.checkpoint)
    assert payload["step"] == 6
    assert payload["meta"]["classes"] == 6


def test_resume_continues_exactly(easy_set: Path, tmp_path: Path) -> None:
    _, straight = train_reid(easy_set, tmp_path / "a", _cfg(), **SIZES)  # type: ignore[arg-type]

    def stop_at_3(step: int, _: dict[str, float]) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_reid(easy_set, tmp_path / "b", _cfg(), on_step=stop_at_3, **SIZES)  # type: ignore[arg-type]
    _, resumed = train_reid(easy_set, tmp_path / "b", _cfg(), resume=True, **SIZES)  # type: ignore[arg-type]
    for a, b in zip(
        straight.vehicle.state_dict().values(), resumed.vehicle.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert straight.history == resumed.history


@pytest.fixture(scope="module")
def with_val(easy_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``easy_set`` plus a validation split of 2 more identities (3 crops each, no plates)."""
    root = tmp_path_factory.mktemp("veri_val")
    shutil.copytree(easy_set, root, dirs_exist_ok=True)
    (root / "image_val").mkdir()
    names = []
    for identity in (7, 8):
        for k in range(3):
            name = veri_name(identity, 1 + k % 2, 10 * k, k)
            cv2.imwrite(str(root / "image_val" / name), np.full((40, 40, 3), 30 * identity, np.uint8))
            names.append(name)
    train = (easy_set / "name_train.txt").read_text().split()
    write_veri_lists(root, {"train": train, "val": names})
    return root


@pytest.mark.parametrize(
    ("splits", "identities", "samples"), [(("train", "val"), 8, 30), (("train",), 6, 24)]
)
def test_training_learns_from_the_splits_it_is_given(
    with_val: Path, tmp_path: Path, splits: tuple[str, ...], identities: int, samples: int
) -> None:
    result, _ = train_reid(with_val, tmp_path, _cfg(steps=1, splits=splits), **SIZES)  # type: ignore[arg-type]
    assert (result.identities, result.samples, result.samples_with_plate) == (identities, samples, 18)
    assert load_checkpoint(result.checkpoint)["meta"]["config"]["splits"] == list(splits)


def test_an_extra_folder_adds_its_identities_without_merging_them(easy_set: Path, tmp_path: Path) -> None:
    """The same folder added as an extra counts its 6 identities again, as 6 others."""
    samples = reid_train.training_samples(easy_set, ("train",), [easy_set])
    assert len(samples) == 48
    assert len({s.identity for s in samples}) == 12
    result, _ = train_reid(easy_set, tmp_path, _cfg(steps=1), extra=[easy_set], **SIZES)  # type: ignore[arg-type]
    assert (result.identities, result.samples) == (12, 48)
    assert load_checkpoint(result.checkpoint)["meta"]["extra_data"] == [str(easy_set)]


def test_a_split_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="names a split twice"):
        ReidTrainConfig(splits=("train", "train"))


@pytest.mark.parametrize("cross_camera", [True, False])
def test_cross_camera_batches_pair_crops_of_two_cameras(
    easy_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cross_camera: bool
) -> None:
    given: list[object] = []
    pairs: list[tuple[str, str]] = []

    class Recording(PKSampler):
        def __init__(self, labels: list[int], *args: object) -> None:
            super().__init__(labels, *args)  # type: ignore[arg-type]
            self.cameras = args[-1]  # the trainer passes labels, P, K, neighbours, share, cameras
            given.append(self.cameras)

        def batch(self, rng: np.random.Generator) -> list[int]:
            indices: list[int] = super().batch(rng)
            if isinstance(self.cameras, list):  # K = 2: each identity's two crops are side by side
                firsts, seconds = indices[::2], indices[1::2]
                pairs.extend((self.cameras[i], self.cameras[j]) for i, j in zip(firsts, seconds, strict=True))
            return indices

    monkeypatch.setattr(reid_train, "PKSampler", Recording)
    train_reid(easy_set, tmp_path, _cfg(steps=3, cross_camera=cross_camera), **SIZES)  # type: ignore[arg-type]
    if cross_camera:
        assert len(pairs) == 3 * 3  # 3 steps × 3 identities
        assert all(a != b for a, b in pairs)  # every positive pair comes from two cameras
    else:
        assert given == [None]  # the trainer gave the sampler no cameras


def test_distillation_off_gives_zero_kd(easy_set: Path, tmp_path: Path) -> None:
    result, _ = train_reid(easy_set, tmp_path, _cfg(steps=2, distillation=False), **SIZES)  # type: ignore[arg-type]
    assert result.final["kd"] == 0.0


def test_too_few_identities_is_a_clear_error(easy_set: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="at least P=10 identities"):
        train_reid(easy_set, tmp_path, _cfg(identities_per_batch=10), **SIZES)  # type: ignore[arg-type]


def test_nan_weights_in_a_checkpoint_are_refused(easy_set: Path, tmp_path: Path) -> None:
    result, _ = train_reid(easy_set, tmp_path, _cfg(steps=1), **SIZES)  # type: ignore[arg-type]
    payload = torch.load(result.checkpoint, weights_only=False)
    next(iter(v for v in payload["vehicle"].values() if v.is_floating_point())).fill_(float("nan"))
    torch.save(payload, result.checkpoint)
    with pytest.raises(TrainingError, match="NaN"):
        load_checkpoint(result.checkpoint)


def test_net_from_checkpoint_rebuilds_the_trained_network(easy_set: Path, tmp_path: Path) -> None:
    result, state = train_reid(easy_set, tmp_path, _cfg(steps=1), **SIZES)  # type: ignore[arg-type]
    payload = load_checkpoint(result.checkpoint)
    for name, trained in (("vehicle", state.vehicle), ("plate", state.plate)):
        net = net_from_checkpoint(payload, name)
        assert not net.training
        rebuilt, original = net.state_dict(), trained.state_dict()
        assert rebuilt.keys() == original.keys()
        assert all(torch.equal(rebuilt[k], original[k]) for k in original)


@pytest.mark.parametrize(("step", "expected"), [(0, 0.5), (1, 1.0), (2, 1.0), (11, 0.01)])
def test_lr_schedule_warms_up_then_decays(step: int, expected: float) -> None:
    cfg = ReidTrainConfig(steps=11, warmup_steps=2, lr=1.0)
    assert lr_at(step, cfg) == pytest.approx(expected)


@pytest.mark.parametrize("feature", ["neck", "pooled"])
def test_onnx_export_matches_torch(tmp_path: Path, feature: str) -> None:
    torch.manual_seed(0)
    net = build_net(BackboneSpec(depths=(1, 1), widths=(4, 8), out_channels=16), num_classes=4).eval()
    assert net.neck.running_mean is not None
    assert net.neck.running_var is not None
    with torch.no_grad():  # a trained neck's statistics and scales, so the two features differ
        net.neck.running_mean.normal_()
        net.neck.running_var.uniform_(0.2, 5.0)
        net.neck.weight.uniform_(0.2, 2.0)
    path = export_onnx(net, (24, 40), tmp_path / "m.onnx", feature)  # type: ignore[arg-type]
    assert path.stat().st_size > 0
    assert parity(net, (24, 40), path, feature=feature) <= PARITY_TOLERANCE  # type: ignore[arg-type]
    other = "pooled" if feature == "neck" else "neck"
    assert parity(net, (24, 40), path, feature=other) > 1e-3  # type: ignore[arg-type]  # exported as chosen
    # no exporter debug metadata: it carries stack traces with this machine's paths
    assert str(Path(__file__).resolve().parent.parent.parent).encode() not in path.read_bytes()


def test_plate_reading_needs_a_column_per_character(easy_set: Path, tmp_path: Path) -> None:
    narrow = {**SIZES, "plate_input": (16, 48)}  # 6 columns for "AB123CD"
    with pytest.raises(TrainingError, match="6 columns, too few to read 7 characters"):
        train_reid(easy_set, tmp_path, _cfg(steps=1, plate_text_weight=1.0), **narrow)  # type: ignore[arg-type]


def test_plate_reading_loss_is_finite_and_trains_the_reader(easy_set: Path, tmp_path: Path) -> None:
    result, state = train_reid(easy_set, tmp_path, _cfg(steps=4, plate_text_weight=1.0), **SIZES)  # type: ignore[arg-type]
    assert result.final["plate_text"] > 0
    assert np.isfinite(result.final["plate_text"])
    assert any(p.grad is not None for p in state.reader.parameters())


@pytest.mark.parametrize(
    ("texts", "flat", "lengths"), [(["AB1"], [11, 12, 2], [3]), (["皖A", ""], [47, 11], [2, 0])]
)
def test_plate_text_encoding(texts: list[str], flat: list[int], lengths: list[int]) -> None:
    from reid.nets import encode_plate_text

    targets, sizes = encode_plate_text(texts)
    assert targets.tolist() == flat
    assert sizes.tolist() == lengths


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("flags : fpu avx512f avx512_bf16 avx512_vnni", True),
        ("flags : fpu amx_bf16 amx_tile", True),
        ("flags : fpu avx2 avx512f", False),
    ],
)
def test_bf16_is_native_only_where_the_cpu_says_so(tmp_path: Path, flags: str, native: bool) -> None:
    from reid.precision import cpu_has_native_bf16

    (tmp_path / "cpuinfo").write_text(f"processor : 0\n{flags}\n")
    assert cpu_has_native_bf16(tmp_path / "cpuinfo") is native
    assert cpu_has_native_bf16(tmp_path / "absent") is False


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precisions_give_the_same_losses_within_bf16_rounding(easy_set: Path, precision: str) -> None:
    from reid.data import load_split
    from reid.precision import set_layout
    from reid.train import TrainState, _batch, _losses

    items = load_split(easy_set, "train", SIZES["plate_input"])
    torch.manual_seed(0)
    vehicle = build_net(BackboneSpec(depths=(1, 1), widths=(4, 8), stem_stride=2), 6)
    plate = build_net(BackboneSpec(depths=(1, 1), widths=(4, 8), stem_stride=1), 6)
    reader = PlateTextHead(plate.backbone.spec.out_channels)
    state = TrainState(0, vehicle, plate, torch.optim.Adam(vehicle.parameters()), reader)
    batch = _batch(
        items, list(range(12)), (SIZES["vehicle_input"], SIZES["plate_input"]), np.random.default_rng(1)
    )
    cfg = _cfg(plate_text_weight=0.0)
    reference = _losses(state, batch, cfg, "fp32")
    for net in (vehicle, plate):
        set_layout(net, torch.channels_last)
    got = _losses(state, batch, cfg, precision)
    for name in ("vehicle_triplet", "vehicle_cls", "plate_triplet", "plate_cls", "kd", "total"):
        assert got[name].dtype == torch.float32
        tolerance = 1e-5 if precision == "fp32" else 0.05  # bf16 keeps 8 bits of mantissa
        assert float(got[name].detach()) == pytest.approx(
            float(reference[name].detach()), rel=tolerance, abs=tolerance
        )


def test_network_shapes_come_from_the_config_and_travel_in_the_checkpoint(
    easy_set: Path, tmp_path: Path
) -> None:
    from config.schema import BackboneConfig
    from reid.backbone import backbone_spec
    from reid.train import spec_from_meta

    shape = backbone_spec(BackboneConfig(depths=(1, 1, 1), widths=(4, 8, 8), stem_stride=2))
    result, state = train_reid(easy_set, tmp_path, _cfg(steps=1), vehicle_net=shape, **SIZES)  # type: ignore[arg-type]
    assert state.vehicle.backbone.spec == shape
    meta = load_checkpoint(result.checkpoint)["meta"]
    assert spec_from_meta(meta, "vehicle") == shape
    rebuilt = build_net(spec_from_meta(meta, "vehicle"), meta["classes"])
    rebuilt.load_state_dict(load_checkpoint(result.checkpoint)["vehicle"])  # same shape, loads
    with pytest.raises(TrainingError, match=r"checkpoint's vehicle network is .* the config asks for"):
        train_reid(easy_set, tmp_path, _cfg(steps=2), resume=True, **SIZES)  # type: ignore[arg-type]


def test_checkpoints_from_before_configurable_shapes_use_the_built_in_ones() -> None:
    from reid.nets import PLATE_SPEC, VEHICLE_SPEC
    from reid.train import spec_from_meta

    assert spec_from_meta({"classes": 3}, "vehicle") == VEHICLE_SPEC
    assert spec_from_meta({"classes": 3}, "plate") == PLATE_SPEC


@pytest.mark.parametrize("stored", [{"depths": [1, 1]}, {"depths": [1, 1], "widths": [4], "bogus": 1}])
def test_malformed_shape_metadata_in_a_checkpoint_is_a_clear_error(stored: dict[str, object]) -> None:
    from reid.train import spec_from_meta

    with pytest.raises(TrainingError, match="checkpoint's vehicle_net metadata is not a backbone shape"):
        spec_from_meta({"classes": 3, "vehicle_net": stored}, "vehicle")


def test_batch_stream_makes_each_step_from_its_own_generator() -> None:
    def make(rng: np.random.Generator) -> float:
        return float(rng.random())

    with BatchStream(make, seed=7, start=3, stop=9) as stream:
        got = [stream.next() for _ in range(6)]
    assert got == [float(np.random.default_rng([7, s]).random()) for s in range(3, 9)]
    with BatchStream(make, seed=8, start=3, stop=4) as other:
        assert other.next() != got[0]  # another seed, other batches


def test_batch_stream_raises_a_failed_batch_in_the_caller() -> None:
    def make(rng: np.random.Generator) -> int:
        raise ValueError("crop 3 is unreadable")

    with BatchStream(make, seed=0, start=0, stop=5) as stream, pytest.raises(ValueError, match="crop 3"):
        stream.next()


def test_batch_stream_closes_while_ahead() -> None:
    made: list[int] = []

    def make(rng: np.random.Generator) -> int:
        made.append(1)
        return len(made)

    stream = BatchStream(make, seed=0, start=0, stop=1000, depth=2)
    assert stream.next() == 1
    stream.close()  # the thread waits on a full queue; closing must not hang
    assert len(made) <= 4
