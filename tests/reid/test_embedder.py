"""reid.embedder: torch/onnxruntime parity, preprocessing, malformed crops and models, fusion."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from reid import data as data_module
from reid import embedder as embedder_module
from reid.backbone import BackboneSpec
from reid.data import to_input
from reid.embedder import Embedder, EmbedderError, Embeddings, OnnxEncoder
from reid.nets import EmbeddingModel, build_net

TINY = BackboneSpec(depths=(1, 1), widths=(4, 8), out_channels=16)
DIM = 16
VEHICLE_HW = (32, 32)
PLATE_HW = (16, 48)


@dataclass(frozen=True)
class Models:
    vehicle: Path
    plate: Path
    nan: Path
    vehicle_torch: nn.Module
    plate_torch: nn.Module


def _tiny_model() -> nn.Module:
    return EmbeddingModel(build_net(TINY, num_classes=3)).eval()


def _export(model: nn.Module, size: tuple[int, int], path: Path) -> Path:
    x = torch.zeros(2, 3, *size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():  # the exporter's own deprecation noise, not ours
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            model,
            (x,),
            path,
            input_names=["images"],
            output_names=["embedding"],
            dynamic_shapes={"images": {0: batch}},
            external_data=False,
            verbose=False,
        )
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """Tiny real re-id models exported once per session."""
    root = tmp_path_factory.mktemp("reid-onnx")
    torch.manual_seed(0)
    vehicle, plate, nan = _tiny_model(), _tiny_model(), _tiny_model()
    with torch.no_grad():
        next(m for m in nan.modules() if isinstance(m, nn.Conv2d)).weight.fill_(float("nan"))
    return Models(
        vehicle=_export(vehicle, VEHICLE_HW, root / "vehicle.onnx"),
        plate=_export(plate, PLATE_HW, root / "plate.onnx"),
        nan=_export(nan, VEHICLE_HW, root / "nan.onnx"),
        vehicle_torch=vehicle,
        plate_torch=plate,
    )


@pytest.fixture(scope="session")
def vehicle_encoder(models: Models) -> OnnxEncoder:
    return OnnxEncoder(models.vehicle, expected_dim=DIM, batch_size=3)


@pytest.fixture(scope="session")
def embedder(models: Models) -> Embedder:
    return Embedder.from_files(models.vehicle, models.plate, expected_dim=DIM)


def _crops(sizes: list[tuple[int, int]], seed: int = 0) -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


SIZES = [(32, 32), (60, 90), (17, 25), (4, 4), (100, 20), (8, 64), (33, 31)]


def _graph_model(path: Path, in_shape: list[Any], out_shape: list[Any], nodes: list[onnx.NodeProto]) -> Path:
    """A hand-built ONNX model ``x`` → nodes → ``y`` (for interfaces the exporter never makes)."""
    graph = helper.make_graph(
        nodes,
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, path)
    return path


FLATTEN = [helper.make_node("Flatten", ["x"], ["y"], axis=1)]
FLATTEN_NORM = [
    helper.make_node("Flatten", ["x"], ["f"], axis=1),
    helper.make_node("LpNormalization", ["f"], ["y"], axis=1, p=2),
]
# sqrt(0) = 0 passes the zero probe; normalised dark pixels are negative, so real crops give NaN.
SQRT_FLATTEN = [helper.make_node("Sqrt", ["x"], ["s"]), helper.make_node("Flatten", ["s"], ["y"], axis=1)]


# --- loading and interface --------------------------------------------------------------------


def test_reads_size_and_dim_from_the_model(models: Models) -> None:
    vehicle = OnnxEncoder(models.vehicle, expected_dim=DIM)
    plate = OnnxEncoder(models.plate, expected_dim=None)
    assert (vehicle.input_size, vehicle.dim) == (VEHICLE_HW, DIM)
    assert (plate.input_size, plate.dim) == (PLATE_HW, DIM)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "not found"),
        (b"", "empty"),
        ("half", "truncated"),
        (b"hello world\nthis is not a model\n", "not an ONNX file"),
        ("dir", "not a file"),
    ],
)
def test_unloadable_model_files_raise_embedder_error(
    models: Models, tmp_path: Path, content: bytes | str | None, fragment: str
) -> None:
    path = tmp_path / "model.onnx"
    if content == "half":
        data = models.vehicle.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(EmbedderError, match=fragment) as info:
        OnnxEncoder(path, expected_dim=DIM)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_wrong_expected_dim_raises(models: Models) -> None:
    with pytest.raises(EmbedderError, match=r"expected 128-d embeddings, model gives 16-d"):
        OnnxEncoder(models.vehicle, expected_dim=128)


@pytest.mark.parametrize(
    ("in_shape", "out_shape", "nodes", "fragment"),
    [
        (["N", 2, 8, 8], ["N", 128], FLATTEN, r"expected input float \(N, 3, H, W\).*\(N, 2, 8, 8\)"),
        (["N", 3, 8], ["N", 24], FLATTEN, r"expected input .*\(N, 3, 8\)"),
        (["N", 3, "H", "W"], ["N", "D"], FLATTEN, r"fixed H, W, found .*\(N, 3, H, W\)"),
        ([4, 3, 2, 2], [4, 12], FLATTEN, "fixed 4"),
        (
            ["N", 3, 2, 2],
            ["N", 3, 2, 2],
            [helper.make_node("Identity", ["x"], ["y"])],
            r"output float \(N, D\)",
        ),
    ],
)
def test_wrong_interface_raises(
    tmp_path: Path, in_shape: list[Any], out_shape: list[Any], nodes: list[onnx.NodeProto], fragment: str
) -> None:
    path = _graph_model(tmp_path / "odd.onnx", in_shape, out_shape, nodes)
    with pytest.raises(EmbedderError, match=fragment):
        OnnxEncoder(path, expected_dim=None)


def test_nan_weights_fail_at_load(models: Models) -> None:
    with pytest.raises(EmbedderError, match="non-finite outputs: corrupt weights"):
        OnnxEncoder(models.nan, expected_dim=DIM)


def test_non_finite_output_at_encode_raises(tmp_path: Path) -> None:
    encoder = OnnxEncoder(
        _graph_model(tmp_path / "sqrt.onnx", ["N", 3, 4, 4], ["N", 48], SQRT_FLATTEN), expected_dim=None
    )
    with pytest.raises(EmbedderError, match="non-finite"):
        encoder.encode([np.zeros((8, 8, 3), np.uint8)])


def test_unnormalised_output_raises(tmp_path: Path) -> None:
    encoder = OnnxEncoder(
        _graph_model(tmp_path / "flat.onnx", ["N", 3, 4, 4], ["N", 48], FLATTEN), expected_dim=None
    )
    with pytest.raises(EmbedderError, match="not L2-normalised"):
        encoder.encode(_crops([(8, 8)]))


def test_fixed_batch_of_one_runs_crop_by_crop(tmp_path: Path) -> None:
    path = _graph_model(tmp_path / "one.onnx", [1, 3, 4, 4], [1, 48], FLATTEN_NORM)
    encoder = OnnxEncoder(path, expected_dim=48, batch_size=16)
    assert encoder.batch_size == 1
    vectors = encoder.encode(_crops([(8, 8), (4, 4), (12, 6)]))
    assert vectors.shape == (3, 48)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_session_options_do_not_spin(models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ort.SessionOptions] = []
    real = ort.InferenceSession

    def spy(path: str, sess_options: ort.SessionOptions, providers: list[str]) -> ort.InferenceSession:
        seen.append(sess_options)
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    OnnxEncoder(models.vehicle, threads=3, expected_dim=DIM)
    (options,) = seen
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (3, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_cuda_request_runs_where_cuda_is_missing(
    models: Models, vehicle_encoder: OnnxEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    embedder_module._warn_no_cuda.cache_clear()
    crops = _crops(SIZES[:3])
    with caplog.at_level(logging.WARNING, logger="reid.embedder"):
        first = OnnxEncoder(models.vehicle, provider="cuda", expected_dim=DIM)
        OnnxEncoder(models.plate, provider="cuda", expected_dim=DIM)
    np.testing.assert_allclose(first.encode(crops), vehicle_encoder.encode(crops), atol=1e-4)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        warnings = [r for r in caplog.records if "CUDA" in r.getMessage()]
        assert len(warnings) == 1  # once per process, not once per model


@pytest.mark.parametrize(("threads", "batch_size"), [(0, 16), (2, 0)])
def test_bad_encoder_arguments_raise(models: Models, threads: int, batch_size: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        OnnxEncoder(models.vehicle, threads=threads, batch_size=batch_size, expected_dim=DIM)


# --- preprocessing and encoding ---------------------------------------------------------------


# A uniform BGR crop (b, g, r) gives per-channel constants ((r, g, b) / 255 - mean) / std.
@pytest.mark.parametrize("bgr", [(0, 0, 0), (255, 255, 255), (0, 128, 255), (10, 200, 30)])
def test_preprocess_hand_values(vehicle_encoder: OnnxEncoder, bgr: tuple[int, int, int]) -> None:
    crop = np.empty((50, 20, 3), np.uint8)
    crop[:] = bgr
    (image,) = vehicle_encoder.preprocess([crop])
    assert image.shape == (3, *VEHICLE_HW)
    expected = [
        (bgr[2 - c] / 255 - mean) / std
        for c, (mean, std) in enumerate(zip(data_module.MEAN, data_module.STD, strict=True))
    ]
    np.testing.assert_allclose(
        image.reshape(3, -1), np.repeat(np.array(expected)[:, None], 32 * 32, 1), atol=1e-5
    )


def test_preprocess_matches_training_input(vehicle_encoder: OnnxEncoder) -> None:
    crops = _crops(SIZES)  # shrinking, enlarging and mixed
    np.testing.assert_allclose(vehicle_encoder.preprocess(crops), to_input(crops, VEHICLE_HW), atol=1e-6)


@pytest.mark.parametrize("which", ["vehicle", "plate"])
def test_onnxruntime_matches_torch(models: Models, which: str) -> None:
    path, model = (
        (models.vehicle, models.vehicle_torch) if which == "vehicle" else (models.plate, models.plate_torch)
    )
    encoder = OnnxEncoder(path, expected_dim=DIM)
    crops = _crops(SIZES, seed=1)
    images = encoder.preprocess(crops)
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    vectors = encoder.encode(crops)
    assert vectors.shape == (len(crops), DIM)
    assert vectors.dtype == np.float32
    assert np.abs(vectors - expected).max() <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batches_equal_one_by_one(vehicle_encoder: OnnxEncoder) -> None:
    crops = _crops(SIZES, seed=2)  # 7 crops in batches of 3, 3, 1
    together = vehicle_encoder.encode(crops)
    alone = np.concatenate([vehicle_encoder.encode([c]) for c in crops])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_grey_and_bgra_crops_are_converted(vehicle_encoder: OnnxEncoder) -> None:
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    bgr = _crops([(20, 30)], seed=4)[0]
    alpha = rng.integers(0, 256, (20, 30, 1), dtype=np.uint8)
    vectors = vehicle_encoder.encode(
        [grey, grey[..., None], np.repeat(grey[..., None], 3, 2), np.concatenate([bgr, alpha], 2), bgr]
    )
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    np.testing.assert_allclose(vectors[1], vectors[2], atol=1e-6)
    np.testing.assert_allclose(vectors[3], vectors[4], atol=1e-6)


def test_non_contiguous_crop_is_accepted(vehicle_encoder: OnnxEncoder) -> None:
    crop = _crops([(40, 40)])[0]
    flipped = crop[:, ::-1]
    np.testing.assert_allclose(
        vehicle_encoder.encode([flipped]), vehicle_encoder.encode([flipped.copy()]), atol=1e-6
    )
    assert flipped.base is crop  # the caller's view is not replaced or modified


def test_empty_list_gives_no_rows_and_no_onnxruntime_call(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = OnnxEncoder(models.vehicle, expected_dim=DIM)

    def fail(images: Any) -> Any:
        raise AssertionError("onnxruntime called for an empty list")

    monkeypatch.setattr(encoder, "_run", fail)
    assert encoder.encode([]).shape == (0, DIM)
    assert encoder.preprocess([]).shape == (0, 3, *VEHICLE_HW)


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (np.zeros((1, 1, 3), np.uint8), r"crop 1: shape \(1, 1, 3\) is smaller than 4×4"),
        (np.zeros((3, 40, 3), np.uint8), r"crop 1: shape \(3, 40, 3\)"),
        (np.zeros((0, 10, 3), np.uint8), r"crop 1: shape \(0, 10, 3\)"),
        (np.zeros((10, 0), np.uint8), r"crop 1: shape \(10, 0\)"),
        (np.zeros((10, 10, 3), np.float32), "crop 1: expected dtype uint8, got float32"),
        (np.zeros((10, 10, 2), np.uint8), r"crop 1: expected .*got \(10, 10, 2\)"),
        (np.zeros((10, 10, 5), np.uint8), r"crop 1: expected .*got \(10, 10, 5\)"),
        (np.zeros((2, 10, 10, 3), np.uint8), r"crop 1: expected .*got \(2, 10, 10, 3\)"),
        ([[0, 1], [2, 3]], "crop 1: expected a numpy image, got list"),
    ],
)
def test_malformed_crops_raise_naming_the_index(
    vehicle_encoder: OnnxEncoder, bad: Any, fragment: str
) -> None:
    crops = [_crops([(10, 10)])[0], bad, _crops([(10, 10)])[0]]
    with pytest.raises(ValueError, match=fragment):
        vehicle_encoder.encode(crops)


# --- Embeddings --------------------------------------------------------------------------------


def _unit(rows: list[list[float]]) -> npt.NDArray[np.float32]:
    x = np.array(rows, np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), np.float32)


@pytest.mark.parametrize(
    ("vectors", "kind", "has_plate", "fragment"),
    [
        (np.ones((2, 2), np.float32), "vehicle", [False, False], "L2-normalised; row 0"),
        (np.array([[1.0, np.nan]], np.float32), "vehicle", [False], "NaN"),
        (np.eye(2, dtype=np.float64), "vehicle", [False, False], "float32"),
        (np.eye(2, dtype=np.float32)[0], "vehicle", [False], r"\(N, D\)"),
        (np.eye(2, dtype=np.float32), "vehicle", [False], r"bool \(2,\)"),
        (np.eye(2, dtype=np.float32), "vehicle", [True, False], "all False"),
        (np.eye(2, dtype=np.float32), "plate", [True, False], "all True"),
        (np.eye(3, dtype=np.float32), "fusion", [True, True, True], "even D"),
        (_unit([[1, 0, 1, 0]]), "fusion", [False], "zero plate half"),
        (np.eye(2, dtype=np.float32), "both", [False, False], "kind must be"),
    ],
)
def test_malformed_embeddings_raise(vectors: Any, kind: Any, has_plate: list[bool], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Embeddings(vectors, kind, np.array(has_plate, np.bool_))


def test_empty_embeddings_are_valid() -> None:
    empty = Embeddings(np.zeros((0, 4), np.float32), "fusion", np.zeros(0, np.bool_))
    assert (len(empty), empty.dim, empty.vehicle_part().shape) == (0, 4, (0, 2))


# --- fusion ------------------------------------------------------------------------------------

VEHICLES = _unit([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]])
PLATES = _unit([[0, 1, 0], [1, 1, 0]])


def _vehicle(x: npt.NDArray[np.float32]) -> Embeddings:
    return Embeddings(x, "vehicle", np.zeros(len(x), np.bool_))


def _plate(x: npt.NDArray[np.float32]) -> Embeddings:
    return Embeddings(x, "plate", np.ones(len(x), np.bool_))


def test_fused_rows_with_plates_average_the_cosines(embedder: Embedder) -> None:
    fused = embedder.fuse(_vehicle(VEHICLES), _plate(PLATES), [1, 0, None])
    assert fused.kind == "fusion"
    assert fused.vectors.shape == (3, 6)
    np.testing.assert_array_equal(fused.has_plate, [True, True, False])
    np.testing.assert_allclose(np.linalg.norm(fused.vectors, axis=1), 1.0, atol=1e-6)
    # Vehicles 0 and 1: cos 0.6; their plates (1) and (0): cos 1/√2. Fused: the mean.
    cos = float(fused.vectors[0] @ fused.vectors[1])
    assert cos == pytest.approx((0.6 + 1 / math.sqrt(2)) / 2, abs=1e-6)
    np.testing.assert_allclose(
        fused.vectors[0], np.concatenate([VEHICLES[0], PLATES[1]]) / math.sqrt(2), atol=1e-6
    )


def test_fused_rows_without_plate_keep_the_vehicle_vector(embedder: Embedder) -> None:
    fused = embedder.fuse(_vehicle(VEHICLES), _plate(PLATES), [None, 0, None])
    np.testing.assert_array_equal(fused.has_plate, [False, True, False])
    for row in (0, 2):
        assert np.linalg.norm(fused.vectors[row]) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(fused.vectors[row, :3], VEHICLES[row], atol=1e-6)
        np.testing.assert_array_equal(fused.vectors[row, 3:], 0.0)
    np.testing.assert_allclose(fused.vehicle_part(), VEHICLES, atol=1e-6)


def test_fuse_without_any_plate(embedder: Embedder) -> None:
    fused = embedder.fuse(_vehicle(VEHICLES), _plate(np.zeros((0, 3), np.float32)), [None] * 3)
    assert not fused.has_plate.any()
    np.testing.assert_allclose(fused.vectors[:, :3], VEHICLES, atol=1e-6)


@pytest.mark.parametrize(
    ("plate_index", "fragment"),
    [
        ([0, 2, None], r"plate_index\[1\] = 2"),
        ([-1, None, None], r"plate_index\[0\] = -1"),
        ([True, None, None], r"plate_index\[0\] = True"),
        ([0.0, None, None], r"plate_index\[0\] = 0.0"),
        ([0, None], "2 entries for 3 vehicles"),
        ([0, 0, None], "several vehicles at one plate row"),
    ],
)
def test_fuse_rejects_bad_plate_index(embedder: Embedder, plate_index: list[Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        embedder.fuse(_vehicle(VEHICLES), _plate(PLATES), plate_index)


def test_fuse_rejects_wrong_kinds_and_dims(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="fuse needs"):
        embedder.fuse(_vehicle(VEHICLES), _vehicle(PLATES), [None] * 3)
    with pytest.raises(ValueError, match="differ in length"):
        embedder.fuse(_vehicle(VEHICLES), _plate(_unit([[1, 0]])), [0, None, None])


# --- Embedder end to end -----------------------------------------------------------------------


def test_embed_fuses_vehicles_with_their_plates(embedder: Embedder) -> None:
    vehicles = _crops([(40, 60), (30, 30), (80, 50)], seed=5)
    plates = _crops([(12, 40), (20, 70)], seed=6)
    fused = embedder.embed(vehicles, [plates[0], None, plates[1]])
    expected = embedder.fuse(embedder.embed_vehicles(vehicles), embedder.embed_plates(plates), [0, None, 1])
    assert fused.vectors.shape == (3, 2 * DIM)
    np.testing.assert_array_equal(fused.has_plate, [True, False, True])
    np.testing.assert_allclose(fused.vectors, expected.vectors, atol=1e-6)
    assert embedder.embed_plates(plates).has_plate.all()
    assert not embedder.embed_vehicles(vehicles).has_plate.any()


def test_embed_empty(embedder: Embedder) -> None:
    fused = embedder.embed([], [])
    assert (fused.kind, fused.vectors.shape, fused.has_plate.shape) == ("fusion", (0, 2 * DIM), (0,))
    assert embedder.embed_vehicles([]).vectors.shape == (0, DIM)


def test_embed_validates_its_lists(embedder: Embedder) -> None:
    vehicles = _crops([(40, 60), (30, 30), (80, 50)])
    with pytest.raises(ValueError, match="2 plate crops for 3 vehicle crops"):
        embedder.embed(vehicles, [None, None])
    with pytest.raises(ValueError, match=r"plate crop 2: shape \(1, 1, 3\)"):
        embedder.embed(vehicles, [None, None, np.zeros((1, 1, 3), np.uint8)])


def test_encoders_of_unequal_dims_cannot_be_fused(models: Models, tmp_path: Path) -> None:
    other = OnnxEncoder(
        _graph_model(tmp_path / "48.onnx", ["N", 3, 4, 4], ["N", 48], FLATTEN_NORM), expected_dim=None
    )
    with pytest.raises(EmbedderError, match="fusion needs equal lengths"):
        Embedder(vehicle=OnnxEncoder(models.vehicle, expected_dim=DIM), plate=other)


def _with_layout(source: Path, path: Path, value: str) -> Path:
    model = onnx.load(str(source))
    helper.set_model_props(model, {data_module.TWO_LINE_ASPECT_KEY: value})
    onnx.save(model, str(path))
    return path


def test_the_plate_layout_comes_from_the_plate_models_metadata(models: Models, tmp_path: Path) -> None:
    assert Embedder.from_files(models.vehicle, models.plate, expected_dim=DIM).two_line_aspect == 0.0
    plate = _with_layout(models.plate, tmp_path / "plate.onnx", "1.9")
    assert Embedder.from_files(models.vehicle, plate, expected_dim=DIM).two_line_aspect == 1.9


@pytest.mark.parametrize("value", ["wide", "-1", "nan", "inf"])
def test_a_bad_plate_layout_in_the_metadata_is_refused(models: Models, tmp_path: Path, value: str) -> None:
    plate = _with_layout(models.plate, tmp_path / "plate.onnx", value)
    with pytest.raises(EmbedderError, match=r"plate\.onnx: metadata roadwatch\.two_line_aspect must be"):
        Embedder.from_files(models.vehicle, plate, expected_dim=DIM)


def test_features_of_views_average_each_vehicles_views(embedder: Embedder) -> None:
    crops = _crops([(40, 60), (50, 50), (30, 80)], seed=3)
    plates = _crops([(32, 128)], seed=4)
    got = embedder.features_of_views([crops[:2], crops[2:]], [plates, []])
    one = embedder.vehicle.encode(crops[:2]).mean(axis=0)
    np.testing.assert_allclose(got.vehicle[0], one / np.linalg.norm(one), atol=1e-5)
    np.testing.assert_allclose(got.vehicle[1], embedder.vehicle.encode(crops[2:])[0], atol=1e-5)
    assert got.has_plate.tolist() == [True, False]
    assert not got.plate[1].any()
    assert set(got.for_gallery(0)) == {"vehicle", "plate", "fusion"}
    assert set(got.for_gallery(1)) == {"vehicle"}
    np.testing.assert_allclose(np.linalg.norm(got.for_gallery(0)["fusion"]), 1.0, atol=1e-6)


def test_features_of_views_refuse_a_vehicle_without_views(embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="at least one view"):
        embedder.features_of_views([[]], [[]])
    with pytest.raises(ValueError, match="plate views for 0 vehicles"):
        embedder.features_of_views([_crops([(20, 20)])], [])
