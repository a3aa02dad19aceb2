"""Inference of the exported re-id models: BGR crops → L2-normalised embeddings in onnxruntime.

The ONNX contract (what ``reid`` exports): one input ``images`` float32 ``(N, 3, H, W)`` with a
dynamic batch and a fixed ``H, W``; RGB scaled to [0, 1] and normalised with the ImageNet mean and
std; one output ``embedding`` float32 ``(N, D)`` that the model already L2-normalises.

:class:`OnnxEncoder` runs one such model; :class:`Embedder` holds the vehicle and plate encoders
and fuses their vectors. Every stage hands over an :class:`Embeddings`.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from reid.data import TWO_LINE_ASPECT_KEY, to_input
from reid.fusion import Features, fuse

logger = logging.getLogger(__name__)

Kind = Literal["vehicle", "plate", "fusion"]
Provider = Literal["cpu", "cuda"]

MIN_CROP_SIDE = 4  # pixels; smaller crops carry no identity and usually mean a bad box
NORM_TOLERANCE = 1e-3  # |‖row‖ − 1| allowed for float32 vectors said to be unit length

_KINDS = ("vehicle", "plate", "fusion")
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")


@dataclass(frozen=True, slots=True)
class Embeddings:
    """Unit-length appearance vectors of N crops (N may be 0).

    Attributes:
        vectors: ``(N, D)`` float32, every row L2-normalised. For ``"fusion"`` the first ``D/2``
            columns are the vehicle part and the rest the plate part: ``[v, p] / √2`` where a
            plate was embedded, ``[v, 0]`` where none was.
        kind: ``"vehicle"``, ``"plate"`` or ``"fusion"``.
        has_plate: ``(N,)`` bool; all False for ``"vehicle"``, all True for ``"plate"``, and for
            ``"fusion"`` True where the plate part is real (matchers compare vehicle parts only
            when either side is False).
    """

    vectors: npt.NDArray[np.float32]
    kind: Kind
    has_plate: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        v, flags = self.vectors, self.has_plate
        if not isinstance(v, np.ndarray) or v.ndim != 2 or v.dtype != np.float32:
            raise ValueError(f"vectors must be a float32 (N, D) array, got {_describe(v)}")
        n, d = v.shape
        if d < 1:
            raise ValueError(f"vectors must have D >= 1 columns, got shape {v.shape}")
        if not isinstance(flags, np.ndarray) or flags.shape != (n,) or flags.dtype != np.bool_:
            raise ValueError(f"has_plate must be a bool ({n},) array, got {_describe(flags)}")
        if not np.isfinite(v).all():
            raise ValueError("vectors hold NaN or infinite values")
        if n:
            norms = np.linalg.norm(v, axis=1)
            worst = int(np.argmax(np.abs(norms - 1.0)))
            if abs(norms[worst] - 1.0) > NORM_TOLERANCE:
                raise ValueError(f"vectors must be L2-normalised; row {worst} has norm {norms[worst]:.6f}")
        if self.kind == "vehicle" and flags.any():
            raise ValueError('has_plate must be all False for kind "vehicle"')
        if self.kind == "plate" and not flags.all():
            raise ValueError('has_plate must be all True for kind "plate"')
        if self.kind == "fusion":
            if d % 2:
                raise ValueError(f'"fusion" vectors need an even D (vehicle + plate halves), got {d}')
            if (v[~flags, d // 2 :] != 0).any():
                raise ValueError("fusion rows without a plate must have a zero plate half")

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        """Length D of each vector."""
        return int(self.vectors.shape[1])

    def vehicle_part(self) -> npt.NDArray[np.float32]:
        """``(N, D_vehicle)`` unit vehicle vectors (the vectors themselves for ``"vehicle"``).

        Raises:
            ValueError: For ``"plate"`` embeddings, which have no vehicle part.
        """
        if self.kind == "vehicle":
            return self.vectors
        if self.kind == "plate":
            raise ValueError('"plate" embeddings have no vehicle part')
        return _normalise_rows(self.vectors[:, : self.dim // 2])


class EmbedderError(Exception):
    """A re-id model cannot be loaded or run; the message is one line and names the model file."""


class OnnxEncoder:
    """One ONNX re-id model in onnxruntime.

    Loading checks the interface (one 4-D 3-channel float input with fixed H, W; a 2-D float
    output) and runs one probe image of zeros, so a corrupt file fails here, not mid-stream.

    Args:
        path: The ``.onnx`` file.
        provider: ``"cpu"``, or ``"cuda"`` (falls back to CPU with one warning if unavailable).
        threads: Intra-op threads of the session.
        batch_size: Crops per onnxruntime call in :meth:`encode`.
        expected_dim: Required embedding length, or None to accept any.

    Raises:
        EmbedderError: The file is missing, unreadable, not ONNX, has the wrong interface or
            produces non-finite outputs.
        ValueError: ``threads``, ``batch_size`` or ``expected_dim`` are out of range.
    """

    def __init__(
        self,
        path: Path,
        *,
        provider: Provider = "cpu",
        threads: int = 2,
        batch_size: int = 16,
        expected_dim: int | None = 128,
    ) -> None:
        if threads < 1 or batch_size < 1:
            raise ValueError(f"threads and batch_size must be >= 1, got {threads} and {batch_size}")
        if expected_dim is not None and expected_dim < 1:
            raise ValueError(f"expected_dim must be >= 1 or None, got {expected_dim}")
        if provider not in ("cpu", "cuda"):
            raise ValueError(f'provider must be "cpu" or "cuda", got {provider!r}')
        self.path = Path(path)
        self._session = _open_session(self.path, provider, threads)
        self._input_name, self.input_size, fixed_batch = self._check_input()
        self._output_name, declared_dim = self._check_output()
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)
        # A model exported with a fixed batch of 1 still works, one crop per call.
        self.batch_size = 1 if fixed_batch == 1 else batch_size
        probe = self._run(np.zeros((1, 3, *self.input_size), np.float32))
        if not np.isfinite(probe).all():
            raise EmbedderError(f"{self.path}: produces non-finite outputs: corrupt weights?")
        self.dim = int(probe.shape[1])
        if declared_dim is not None and declared_dim != self.dim:
            raise EmbedderError(f"{self.path}: output declared {declared_dim}-d but gives {self.dim}-d")
        if expected_dim is not None and self.dim != expected_dim:
            raise EmbedderError(
                f"{self.path}: expected {expected_dim}-d embeddings, model gives {self.dim}-d"
            )

    def __repr__(self) -> str:
        h, w = self.input_size
        return (
            f"OnnxEncoder({self.path.name}, {h}x{w} -> {self.dim}, providers={self._session.get_providers()})"
        )

    def preprocess(self, crops: Sequence[npt.NDArray[Any]]) -> npt.NDArray[np.float32]:
        """BGR (or grey / BGRA) uint8 crops → ``(N, 3, H, W)`` float32 network input.

        Resizing to the model's ``(H, W)`` uses area averaging when either side shrinks and
        bilinear otherwise (as ``reid.data.to_input`` does in training).

        Raises:
            ValueError: A crop is not a uint8 image with 1, 3 or 4 channels of at least
                ``MIN_CROP_SIDE`` pixels a side (the message names its index and shape).
        """
        return to_input([_as_bgr(crop, i) for i, crop in enumerate(crops)], self.input_size)

    def encode(self, crops: Sequence[npt.NDArray[Any]]) -> npt.NDArray[np.float32]:
        """``(N, D)`` unit embeddings of the crops, ``batch_size`` crops per onnxruntime call.

        Every crop is checked before the first call; an empty list returns ``(0, D)`` at once.

        Raises:
            ValueError: A malformed crop (see :meth:`preprocess`).
            EmbedderError: onnxruntime fails, or the outputs are non-finite or not unit length.
        """
        for i, crop in enumerate(crops):
            _as_bgr(crop, i)
        out = np.empty((len(crops), self.dim), np.float32)
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start : start + self.batch_size]
            vectors = self._run(self.preprocess(chunk))
            if not np.isfinite(vectors).all():
                raise EmbedderError(f"{self.path}: produces non-finite outputs: corrupt weights?")
            norms = np.linalg.norm(vectors, axis=1)
            if (np.abs(norms - 1.0) > NORM_TOLERANCE).any():
                raise EmbedderError(
                    f"{self.path}: outputs are not L2-normalised (norms {norms.min():.4f}.."
                    f"{norms.max():.4f}); the model must end with L2 normalisation"
                )
            out[start : start + len(chunk)] = vectors
        return out

    def _run(self, images: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        try:
            (result,) = self._session.run([self._output_name], {self._input_name: images})
        except Exception as exc:  # onnxruntime raises its own Exception subclasses
            raise EmbedderError(f"{self.path}: inference failed: {_ort_reason(exc)}") from exc
        array = np.asarray(result)
        if array.ndim != 2 or array.shape[0] != len(images) or array.dtype != np.float32:
            raise EmbedderError(
                f"{self.path}: expected a float32 ({len(images)}, D) output, got {_describe(array)}"
            )
        return array

    def _check_input(self) -> tuple[str, tuple[int, int], int | None]:
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise EmbedderError(f"{self.path}: expected one input (images), found {len(inputs)}")
        spec = inputs[0]
        shape = list(spec.shape)
        if (
            spec.type != "tensor(float)"
            or len(shape) != 4
            or shape[1] != 3
            or not all(isinstance(s, int) and s > 0 for s in shape[2:])
        ):
            raise EmbedderError(
                f"{self.path}: expected input float (N, 3, H, W) with fixed H, W, "
                f"found {spec.type} {_shape_text(shape)}"
            )
        batch = shape[0] if isinstance(shape[0], int) else None
        if batch is not None and batch != 1:
            raise EmbedderError(f"{self.path}: expected a dynamic (or 1) batch size, found fixed {batch}")
        return spec.name, (int(shape[2]), int(shape[3])), batch

    def _check_output(self) -> tuple[str, int | None]:
        outputs = self._session.get_outputs()
        named = [o for o in outputs if o.name == "embedding"]
        if not named and len(outputs) != 1:
            names = [o.name for o in outputs]
            raise EmbedderError(f"{self.path}: expected one output or one named 'embedding', found {names}")
        spec = (named or outputs)[0]
        shape = list(spec.shape)
        if spec.type != "tensor(float)" or len(shape) != 2:
            raise EmbedderError(
                f"{self.path}: expected output float (N, D), found {spec.type} {_shape_text(shape)}"
            )
        return spec.name, shape[1] if isinstance(shape[1], int) else None


class Embedder:
    """Vehicle and plate encoders plus fusion.

    Args:
        vehicle: Encoder of vehicle crops.
        plate: Encoder of rectified plate crops; must give vectors as long as the vehicle's.

    Attributes:
        two_line_aspect: How the plate model wants its plates laid out (its ONNX metadata
            ``roadwatch.two_line_aspect``; 0 for models without it): rectify plate crops with
            :func:`reid.data.rectify_plate` at this threshold.

    Raises:
        EmbedderError: The two encoders give vectors of different lengths, or the plate model's
            layout metadata is not a number in [0, 100).
    """

    def __init__(self, *, vehicle: OnnxEncoder, plate: OnnxEncoder) -> None:
        if vehicle.dim != plate.dim:
            raise EmbedderError(
                f"vehicle model {vehicle.path} gives {vehicle.dim}-d and plate model {plate.path} "
                f"{plate.dim}-d embeddings; fusion needs equal lengths"
            )
        self.vehicle = vehicle
        self.plate = plate
        self.two_line_aspect = _two_line_aspect(plate)

    @classmethod
    def from_files(
        cls,
        vehicle_model: Path,
        plate_model: Path,
        *,
        provider: Provider = "cpu",
        threads: int = 2,
        batch_size: int = 16,
        expected_dim: int | None = 128,
    ) -> Embedder:
        """Load both models (see :class:`OnnxEncoder` for the arguments and errors)."""
        options: dict[str, Any] = {
            "provider": provider,
            "threads": threads,
            "batch_size": batch_size,
            "expected_dim": expected_dim,
        }
        return cls(vehicle=OnnxEncoder(vehicle_model, **options), plate=OnnxEncoder(plate_model, **options))

    def embed_vehicles(self, crops: Sequence[npt.NDArray[Any]]) -> Embeddings:
        """Embeddings of kind ``"vehicle"`` of BGR vehicle crops."""
        vectors = self.vehicle.encode(crops)
        return Embeddings(vectors, "vehicle", np.zeros(len(vectors), np.bool_))

    def embed_plates(self, crops: Sequence[npt.NDArray[Any]]) -> Embeddings:
        """Embeddings of kind ``"plate"`` of rectified BGR plate crops."""
        vectors = self.plate.encode(crops)
        return Embeddings(vectors, "plate", np.ones(len(vectors), np.bool_))

    def fuse(self, vehicle: Embeddings, plate: Embeddings, plate_index: Sequence[int | None]) -> Embeddings:
        """Join each vehicle vector with its plate's into one ``"fusion"`` vector of length 2D.

        Row i is ``[v_i, p_j] / ‖[v_i, p_j]‖`` (≈ ``/√2``) with ``j = plate_index[i]``, so the
        cosine of two fused rows is the mean of the vehicle and plate cosines. Without a plate
        (``None``) the row is ``[v_i, 0]``: the vehicle part keeps unit norm and ``has_plate`` is
        False. Plate rows no vehicle points at are ignored.

        Raises:
            ValueError: Wrong kinds or lengths, unequal D, or an index that is not None or an
                int in ``[0, len(plate))``, or one plate row claimed by two vehicles.
        """
        if vehicle.kind != "vehicle" or plate.kind != "plate":
            raise ValueError(
                f'fuse needs "vehicle" and "plate" embeddings, got {vehicle.kind!r}, {plate.kind!r}'
            )
        if len(plate_index) != len(vehicle):
            raise ValueError(f"plate_index has {len(plate_index)} entries for {len(vehicle)} vehicles")
        if len(plate) and plate.dim != vehicle.dim:
            raise ValueError(f"vehicle ({vehicle.dim}-d) and plate ({plate.dim}-d) vectors differ in length")
        d = vehicle.dim
        rows, cols = [], []
        for i, j in enumerate(plate_index):
            if j is None:
                continue
            if isinstance(j, bool) or not isinstance(j, int | np.integer) or not 0 <= j < len(plate):
                raise ValueError(f"plate_index[{i}] = {j!r} is not None or a row of {len(plate)} plates")
            rows.append(i)
            cols.append(int(j))
        if len(set(cols)) != len(cols):
            raise ValueError(f"plate_index points several vehicles at one plate row: {list(plate_index)}")
        plates = np.zeros((len(vehicle), d), np.float32)
        plates[rows] = plate.vectors[cols] if cols else 0.0
        has_plate = np.zeros(len(vehicle), np.bool_)
        has_plate[rows] = True
        return Embeddings(fuse(vehicle.vectors, plates), "fusion", has_plate)

    def features_of_views(
        self,
        vehicle_views: Sequence[Sequence[npt.NDArray[Any]]],
        plate_views: Sequence[Sequence[npt.NDArray[Any]]],
    ) -> Features:
        """Features of N vehicles seen in several views each: every view embedded (one batch per
        network for all vehicles), then each vehicle's views averaged and renormalised (temporal
        average pooling, the usual way of pooling a tracklet in video re-id). A vehicle with no
        plate view gets ``has_plate`` False.

        Raises:
            ValueError: The lists differ in length, a vehicle has no view, or a crop is malformed.
            EmbedderError: A model fails at run time.
        """
        if len(plate_views) != len(vehicle_views):
            raise ValueError(
                f"plate views for {len(plate_views)} vehicles, vehicle views for {len(vehicle_views)}"
            )
        if any(len(v) == 0 for v in vehicle_views):
            raise ValueError("every vehicle needs at least one view")
        vehicles = _pool(self.vehicle.encode([c for views in vehicle_views for c in views]), vehicle_views)
        plates = np.zeros_like(vehicles)
        has_plate = np.array([len(v) > 0 for v in plate_views], np.bool_)
        if has_plate.any():
            pooled = _pool(
                self.plate.encode([c for views in plate_views for c in views]), [v for v in plate_views if v]
            )
            plates[has_plate] = pooled
        return Features(vehicles, plates, has_plate)

    def embed(
        self, vehicle_crops: Sequence[npt.NDArray[Any]], plate_crops: Sequence[npt.NDArray[Any] | None]
    ) -> Embeddings:
        """Fused embeddings; ``plate_crops[i]`` is vehicle i's rectified plate, or None.

        Raises:
            ValueError: The lists differ in length or a crop is malformed (named by its index).
            EmbedderError: A model fails at run time.
        """
        if len(plate_crops) != len(vehicle_crops):
            raise ValueError(f"{len(plate_crops)} plate crops for {len(vehicle_crops)} vehicle crops")
        for i, crop in enumerate(plate_crops):
            if crop is not None:
                _as_bgr(crop, i, what="plate crop")  # name the vehicle's index, not the plate's
        present = [i for i, crop in enumerate(plate_crops) if crop is not None]
        plates = self.embed_plates([c for c in plate_crops if c is not None])
        vehicles = self.embed_vehicles(vehicle_crops)
        position = {i: k for k, i in enumerate(present)}
        return self.fuse(vehicles, plates, [position.get(i) for i in range(len(vehicle_crops))])


def _pool(vectors: npt.NDArray[np.float32], groups: Sequence[Sequence[object]]) -> npt.NDArray[np.float32]:
    """Mean of consecutive rows, one mean per group (sized as ``groups``), renormalised."""
    bounds = np.cumsum([0, *(len(g) for g in groups)])
    means = np.stack([vectors[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)])
    return _normalise_rows(means.astype(np.float32))


def _two_line_aspect(plate: OnnxEncoder) -> float:
    """The plate model's two-line layout threshold (:func:`reid.data.rectify_plate`): what it
    was trained with, from its metadata; 0 (plates as printed) for models older than it."""
    raw = plate.metadata.get(TWO_LINE_ASPECT_KEY)
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 100:
        raise EmbedderError(
            f"{plate.path}: metadata {TWO_LINE_ASPECT_KEY} must be a number in [0, 100), got {raw!r}"
        )
    return value


def _as_bgr(crop: object, index: int, what: str = "crop") -> npt.NDArray[np.uint8]:
    """A contiguous ``(H, W, 3)`` BGR view or copy of a grey, BGR or BGRA uint8 crop."""
    if not isinstance(crop, np.ndarray):
        raise ValueError(f"{what} {index}: expected a numpy image, got {type(crop).__name__}")
    if crop.dtype != np.uint8:
        raise ValueError(f"{what} {index}: expected dtype uint8, got {crop.dtype} with shape {crop.shape}")
    channels = 1 if crop.ndim == 2 else crop.shape[2] if crop.ndim == 3 else 0
    if channels not in (1, 3, 4):
        raise ValueError(
            f"{what} {index}: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {crop.shape}"
        )
    if crop.shape[0] < MIN_CROP_SIDE or crop.shape[1] < MIN_CROP_SIDE:
        raise ValueError(
            f"{what} {index}: shape {crop.shape} is smaller than {MIN_CROP_SIDE}×{MIN_CROP_SIDE} pixels"
        )
    image = np.ascontiguousarray(crop)
    if channels == 1:
        return np.asarray(cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR), np.uint8)
    if channels == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), np.uint8)
    return image


def _normalise_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, np.float32(1e-12)), np.float32)


def _open_session(path: Path, provider: Provider, threads: int) -> ort.InferenceSession:
    if not path.exists():
        raise EmbedderError(f"{path}: model file not found")
    if not path.is_file():
        raise EmbedderError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise EmbedderError(f"{path}: model file is empty")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads of several sessions in one process starve each other (FACTS.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; failures reach us as exceptions anyway
    providers = ["CPUExecutionProvider"]
    if provider == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        else:
            _warn_no_cuda()
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Exception subclasses
        raise EmbedderError(f"{path}: cannot load ONNX model: {_ort_reason(exc)}") from exc
    if provider == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        _warn_no_cuda()  # onnxruntime-gpu without a usable GPU falls back by itself
    return session


@functools.cache
def _warn_no_cuda() -> None:
    logger.warning("CUDA execution provider unavailable; re-id models run on CPU")


def _ort_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Protobuf parsing failed" in text:
        return "not an ONNX file, or truncated (protobuf parsing failed)"
    return _ORT_PREFIX.sub("", text)


def _shape_text(shape: Sequence[object]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _describe(x: object) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array of shape {x.shape}"
    return type(x).__name__


__all__ = ["Embedder", "EmbedderError", "Embeddings", "OnnxEncoder"]
