"""Read a dlib DNN (``dlib::serialize(net)``, e.g. ``dlib_face_recognition_resnet_model_v1.dat``)
in pure Python: no dlib needed.

What dlib writes (dlib/serialize.h, dlib/dnn/{core,layers,input,loss,tensor}.h):

- integers (``int``, ``long``, ``unsigned long``, ...): one control byte (low 4 bits: the
  number of value bytes, 1..8; bit 0x80: negative, signed types only), then the magnitude
  as that many little-endian bytes. Zero is ``01 00``.
- ``float``/``double``: ``float_details``: an int64 mantissa then an int16 exponent, both
  as integers above; the value is ``mantissa * 2**exponent``; exponent 32000/32001/32002
  mean +inf/-inf/nan. (A first byte with any of the bits 0x70 set is dlib's old ASCII
  float format: not supported.)
- ``bool``: the character ``'0'`` or ``'1'``.
- ``std::string``: its length (unsigned integer) then the bytes.
- ``resizable_tensor``: ``int`` version 2, then num_samples, k, nr, nc (integers), then
  num_samples*k*nr*nc little-endian float32 values (NCHW order).
- ``alias_tensor``: ``int`` version 1 then num_samples, k, nr, nc (a view into ``params``).
- a network is serialized from the top: the loss layer (``add_loss_layer``: version 1,
  the loss details, the subnetwork), then each ``add_layer`` writes its version (2), its
  *subnetwork first*, and only then its own details, the bools
  ``this_layer_setup_called``/``gradient_input_is_stale``/``get_output_and_gradient_input_disabled``
  and the tensors ``x_grad``, ``cached_output``, ``params_grad``. ``add_tag_layer`` and
  ``add_skip_layer`` write only version 1 and their subnetwork: they are indistinguishable
  in the file, and neither they nor ``add_prev_`` record a tag id. The bottom ``add_layer``
  (the one on the input layer; version 2 or 3) writes the input layer, its details, the
  three bools, ``x_grad``, ``cached_output``, ``grad_final`` and (version 3)
  ``_sample_expansion_factor``.

  So the file holds a chain of versions from the top down, then the input layer, then the
  layer details from the bottom up: the reader returns the layers bottom-up (input first,
  loss last), with ``tag_or_skip`` markers where the chain had a tag or skip layer.

Layer details read here: ``con_4``, ``affine_``, ``relu_``, ``max_pool_2``, ``avg_pool_2``,
``add_prev_``, ``fc_2``, inputs ``input_rgb_image_sized`` / ``input_rgb_image``, losses
``loss_metric_2`` / ``loss_metric_``. Anything else raises :class:`DlibFormatError`, as
does every malformed or truncated file.
"""

from __future__ import annotations

import bz2
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeface.errors import ConversionError

_FLOAT_INF, _FLOAT_NINF, _FLOAT_NAN = 32000, 32001, 32002
_MAX_NAME = 256  # layer version strings are short; a longer one means a damaged file
_MAX_CHAIN = 100_000  # layers in one network
_MAX_ELEMENTS = 1 << 40  # per tensor, counting only its non-zero dimensions


class DlibFormatError(ConversionError):
    """A dlib model file is damaged, truncated, or holds something this reader does not know."""


@dataclass(frozen=True)
class DlibLayer:
    """One layer of a dlib network.

    ``kind``: ``input_rgb_image_sized``, ``input_rgb_image``, ``con``, ``affine``, ``relu``,
    ``max_pool``, ``avg_pool``, ``add_prev``, ``fc``, ``tag_or_skip`` or ``loss_metric``.
    ``version``: the version string dlib wrote for it (``con_4``...; ``""`` for markers).
    ``params``: plain values (sizes, strides, paddings, averages...).
    ``arrays``: weights as float32 numpy arrays in dlib's layout, named per kind:
    ``con``: ``filters`` (num_filters, k, nr, nc), ``biases`` (num_filters,);
    ``affine``: ``gamma``, ``beta`` (k,) in conv mode; ``fc``: ``weights``
    (num_inputs, num_outputs) and, with a bias, ``biases`` (num_outputs,).
    """

    kind: str
    version: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class DlibNet:
    """A whole network, bottom-up: ``layers[0]`` is the input layer, ``layers[-1]`` the loss."""

    layers: list[DlibLayer]
    source: str = "<bytes>"
    trailing_bytes: int = 0  # bytes after the network (dlib itself ignores them)

    @property
    def input(self) -> DlibLayer:
        return self.layers[0]

    @property
    def loss(self) -> DlibLayer:
        return self.layers[-1]

    def kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]

    def count(self, kind: str) -> int:
        return sum(1 for layer in self.layers if layer.kind == kind)


class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data = memoryview(data)
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(
            f"{self.name}: not a dlib network this reader can use: {what} (at byte {self.pos} of "
            f"{len(self.data)}): use the original, complete .dat file from the package")

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"the file ends inside {what} (truncated?)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    # dlib's integer encoding -------------------------------------------------------------
    def signed(self, what: str, max_bytes: int = 8) -> int:
        control = self.byte(what)
        size = control & 0x0F
        if size == 0 or size > max_bytes:
            raise self.fail(f"bad integer control byte 0x{control:02x} in {what}")
        value = int.from_bytes(self.take(size, what), "little")
        return -value if control & 0x80 else value

    def unsigned(self, what: str, max_bytes: int = 8) -> int:
        control = self.byte(what) & 0x8F
        if control == 0 or control > max_bytes:
            raise self.fail(f"bad unsigned integer control byte 0x{control:02x} in {what}")
        return int.from_bytes(self.take(control, what), "little")

    def int32(self, what: str) -> int:
        return self.signed(what, 4)

    def long(self, what: str) -> int:
        return self.signed(what, 8)

    def real(self, what: str) -> float:
        first = self.peek()
        if first is None:
            raise self.fail(f"the file ends inside {what} (truncated?)")
        if first & 0x70:
            raise self.fail(f"{what} uses dlib's old text float format")
        mantissa = self.signed(what, 8)
        exponent = self.signed(what, 2)
        if exponent == _FLOAT_INF:
            return math.inf
        if exponent == _FLOAT_NINF:
            return -math.inf
        if exponent == _FLOAT_NAN:
            return math.nan
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError:
            raise self.fail(f"{what} is out of range") from None

    def boolean(self, what: str) -> bool:
        ch = self.byte(what)
        if ch not in (0x30, 0x31):
            raise self.fail(f"bad bool byte 0x{ch:02x} in {what}")
        return ch == 0x31

    def string(self, what: str, max_len: int = _MAX_NAME) -> str:
        n = self.unsigned(what)
        if n > max_len:
            raise self.fail(f"{what} claims a {n}-byte string")
        raw = bytes(self.take(n, what))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not a text string") from None

    def peek_string(self) -> str | None:
        """The string at the current position, if one plausibly starts here; the position
        does not move."""
        start = self.pos
        try:
            n = self.unsigned("a name")
            if not 1 <= n <= 64:
                return None
            raw = bytes(self.take(n, "a name"))
        except DlibFormatError:
            return None
        finally:
            self.pos = start
        text = raw.decode("ascii") if raw.isascii() else ""
        return text if text.isprintable() and text else None

    # tensors ------------------------------------------------------------------------------
    def dims(self, what: str) -> tuple[int, int, int, int]:
        shape = tuple(self.long(what) for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"{what} has a negative size {shape}")
        if math.prod(d for d in shape if d) > _MAX_ELEMENTS:  # even an empty tensor: numpy refuses it
            raise self.fail(f"{what} has an impossible size {shape}")
        return shape  # type: ignore[return-value]

    def tensor(self, what: str) -> np.ndarray:
        version = self.int32(what)
        if version != 2:
            raise self.fail(f"{what} has tensor version {version} (expected 2)")
        shape = self.dims(what)
        count = shape[0] * shape[1] * shape[2] * shape[3]
        if count * 4 > len(self.data) - self.pos:
            raise self.fail(f"the file ends inside {what} ({count} floats announced; truncated?)")
        raw = self.take(count * 4, what)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self, what: str) -> tuple[int, int, int, int]:
        version = self.int32(what)
        if version != 1:
            raise self.fail(f"{what} has alias_tensor version {version} (expected 1)")
        return self.dims(what)


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(int(d) for d in shape) if shape else 0  # Python ints: no overflow


def _split(r: _Reader, params: np.ndarray, parts: list[tuple[str, tuple[int, ...]]], what: str
           ) -> dict[str, np.ndarray]:
    flat = params.reshape(-1)
    need = sum(_size(shape) for _, shape in parts)
    if need != flat.size:
        raise r.fail(f"{what} has {flat.size} parameters but its views need {need}")
    out, offset = {}, 0
    for name, shape in parts:
        n = _size(shape)
        out[name] = flat[offset:offset + n].reshape(shape).copy()
        offset += n
    return out


def _read_details(r: _Reader) -> DlibLayer:
    at = r.pos
    version = r.string("a layer's version string")
    if version == "con_4":
        params = r.tensor("con_ params")
        num_filters, nr, nc = r.long("num_filters"), r.long("nr"), r.long("nc")
        stride_y, stride_x = r.int32("stride_y"), r.int32("stride_x")
        padding_y, padding_x = r.int32("padding_y"), r.int32("padding_x")
        filters = r.alias("con_ filters")
        biases = r.alias("con_ biases")
        for what in ("learning_rate_multiplier", "weight_decay_multiplier",
                     "bias_learning_rate_multiplier", "bias_weight_decay_multiplier"):
            r.real(what)
        if min(num_filters, nr, nc, stride_y, stride_x) <= 0 or min(padding_y, padding_x) < 0:
            raise r.fail(f"con_ layer with impossible settings (filters {num_filters}, {nr}x{nc}, "
                         f"stride {stride_y}x{stride_x}, padding {padding_y}x{padding_x})")
        if filters[0] != num_filters or filters[2:] != (nr, nc) or _size(biases) != num_filters:
            raise r.fail(f"con_ layer views {filters}/{biases} do not fit {num_filters} {nr}x{nc} filters")
        arrays = _split(r, params, [("filters", filters), ("biases", (num_filters,))], "con_")
        return DlibLayer("con", version, dict(
            num_filters=num_filters, nr=nr, nc=nc, stride_y=stride_y, stride_x=stride_x,
            padding_y=padding_y, padding_x=padding_x, in_channels=filters[1]), arrays)
    if version == "affine_":
        params = r.tensor("affine_ params")
        gamma = r.alias("affine_ gamma")
        beta = r.alias("affine_ beta")
        mode = r.int32("affine_ mode")
        if mode not in (0, 1) or gamma != beta:
            raise r.fail(f"affine_ layer with mode {mode}, gamma {gamma}, beta {beta}")
        arrays = _split(r, params, [("gamma", gamma), ("beta", beta)], "affine_")
        if mode == 0:  # CONV_MODE: one value per channel
            arrays = {k: v.reshape(-1) for k, v in arrays.items()}
        return DlibLayer("affine", version, dict(mode="conv" if mode == 0 else "fc"), arrays)
    if version == "relu_":
        return DlibLayer("relu", version)
    if version == "add_prev_":
        return DlibLayer("add_prev", version)
    if version in ("max_pool_2", "avg_pool_2"):
        nr, nc = r.long("pool nr"), r.long("pool nc")
        stride_y, stride_x = r.int32("pool stride_y"), r.int32("pool stride_x")
        padding_y, padding_x = r.int32("pool padding_y"), r.int32("pool padding_x")
        if min(nr, nc, padding_y, padding_x) < 0 or min(stride_y, stride_x) <= 0:
            raise r.fail(f"{version} layer with impossible settings")
        return DlibLayer(version[:-2], version, dict(
            nr=nr, nc=nc, stride_y=stride_y, stride_x=stride_x,
            padding_y=padding_y, padding_x=padding_x))
    if version == "fc_2":
        num_outputs, num_inputs = r.unsigned("fc num_outputs"), r.unsigned("fc num_inputs")
        params = r.tensor("fc_ params")
        weights = r.alias("fc_ weights")
        biases = r.alias("fc_ biases")
        bias_mode = r.int32("fc_ bias_mode")
        for what in ("learning_rate_multiplier", "weight_decay_multiplier",
                     "bias_learning_rate_multiplier", "bias_weight_decay_multiplier"):
            r.real(what)
        if bias_mode not in (0, 1) or _size(weights) != num_inputs * num_outputs or num_outputs == 0:
            raise r.fail(f"fc_ layer views {weights} do not fit {num_inputs}x{num_outputs} (bias mode {bias_mode})")
        parts = [("weights", (num_inputs, num_outputs))]
        if bias_mode == 0:
            parts.append(("biases", (num_outputs,)))
        arrays = _split(r, params, parts, "fc_")
        return DlibLayer("fc", version, dict(num_outputs=num_outputs, num_inputs=num_inputs,
                                             bias=bias_mode == 0), arrays)
    r.pos = at
    raise r.fail(f"unsupported layer type {version!r}")


def _read_input(r: _Reader) -> DlibLayer:
    version = r.string("the input layer's name")
    if version not in ("input_rgb_image_sized", "input_rgb_image"):
        raise r.fail(f"unsupported input layer {version!r}")
    avg = tuple(r.real(f"input avg_{c}") for c in ("red", "green", "blue"))
    if not all(math.isfinite(a) for a in avg):
        raise r.fail(f"input layer averages {avg} are not finite")
    params: dict[str, Any] = dict(avg_red=avg[0], avg_green=avg[1], avg_blue=avg[2])
    if version == "input_rgb_image_sized":
        params["nr"] = r.unsigned("input nr")
        params["nc"] = r.unsigned("input nc")
        if not (1 <= params["nr"] <= 65536 and 1 <= params["nc"] <= 65536):
            raise r.fail(f"input size {params['nr']}x{params['nc']}")
    return DlibLayer(version, version, params)


def _read_loss(r: _Reader) -> DlibLayer:
    version = r.string("the loss layer's version string")
    if version == "loss_metric_2":
        margin = r.real("loss_metric margin")
        dist_thresh = r.real("loss_metric dist_thresh")
        return DlibLayer("loss_metric", version, dict(margin=margin, dist_thresh=dist_thresh))
    if version == "loss_metric_":  # older files: dlib hard-coded these values
        return DlibLayer("loss_metric", version, dict(margin=0.1, dist_thresh=0.75))
    raise r.fail(f"unsupported loss layer {version!r}")


def _layer_tail(r: _Reader, last: str) -> None:
    """The state every add_layer writes after its details (cleared in a saved network)."""
    for what in ("this_layer_setup_called", "gradient_input_is_stale",
                 "get_output_and_gradient_input_disabled"):
        r.boolean(what)
    r.tensor("x_grad")
    r.tensor("cached_output")
    r.tensor(last)


def parse_dlib_net(data: bytes, name: str = "<bytes>") -> DlibNet:
    """Parse a serialized dlib network (plain, or bz2-compressed as dlib-models ships it)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DlibFormatError(f"{name}: expected the bytes of a dlib .dat file, got {type(data).__name__}")
    data = bytes(data)
    if data[:3] == b"BZh":
        try:
            data = bz2.decompress(data)
        except (OSError, ValueError, EOFError) as exc:
            raise DlibFormatError(f"{name}: a damaged bz2 file ({exc}): download it again") from None
    r = _Reader(data, name)
    if r.int32("the loss layer's version") != 1:
        raise r.fail("the loss layer's version is not 1 (not a dlib network with a loss layer?)")
    loss = _read_loss(r)

    # The chain of versions, top down, until the add_layer that holds the input layer.
    chain: list[str] = []  # "layer" (add_layer v2) or "marker" (tag / skip, v1)
    input_version = 0
    while True:
        if len(chain) > _MAX_CHAIN:
            raise r.fail(f"more than {_MAX_CHAIN} layers")
        version = r.int32("a layer's version")
        if version in (2, 3) and (r.peek_string() or "").startswith("input"):
            input_version = version
            break
        if version == 2:
            chain.append("layer")
        elif version == 1:
            chain.append("marker")
        else:
            raise r.fail(f"unexpected layer version {version}")

    layers: list[DlibLayer] = [_read_input(r)]
    layers.append(_read_details(r))
    _layer_tail(r, "grad_final")
    if input_version == 3:
        r.unsigned("_sample_expansion_factor")
    for entry in reversed(chain):
        if entry == "marker":
            layers.append(DlibLayer("tag_or_skip"))
        else:
            layers.append(_read_details(r))
            _layer_tail(r, "params_grad")
    layers.append(loss)
    return DlibNet(layers, name, len(r.data) - r.pos)


def read_dlib_net(path: str | Path) -> DlibNet:
    """Read a dlib network from a ``.dat`` (or ``.dat.bz2``) file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DlibFormatError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return parse_dlib_net(data, str(path))
