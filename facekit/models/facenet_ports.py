"""FaceNet's InceptionResNetV1 from files that are not PyTorch state dicts, ported into facenet-pytorch's network
without TensorFlow:

- a Keras HDF5 model (keras-facenet's layer names, a 128-d bottleneck), read with h5py;
- a frozen TensorFlow graph (davidsandberg's slim names, batch norms folded into the convolutions), its
  constants read straight from the protobuf wire format.

Both name the same layers (``Conv2d_1a_3x3``, ``Block35_3_Branch_2_Conv2d_0b_3x3`` or
``Repeat/block35_3/Branch_2/Conv2d_0b_3x3``, ``Mixed_6a_...``, ``Bottleneck``); ``torch_prefix`` maps a layer to
facenet-pytorch's module path. A ``Port`` holds the state dict and where each tensor came from: a test checks
that every stored tensor is used once, with its shape.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: facenet-pytorch's module of each block kind; repeated blocks are numbered from 1 in the source files
_BLOCKS = {"Block35": "repeat_1", "Block17": "repeat_2", "Block8": "repeat_3"}


def keras_name(tf_path: str) -> str:
    """A TensorFlow slim layer path as keras-facenet names the layer:
    ``InceptionResnetV1/Repeat_1/block17_4/Branch_1/Conv2d_0b_1x7`` -> ``Block17_4_Branch_1_Conv2d_0b_1x7``,
    ``InceptionResnetV1/Block8/Conv2d_1x1`` -> ``Block8_6_Conv2d_1x1`` (the unrepeated last block)."""
    parts = tf_path.removeprefix("InceptionResnetV1/").split("/")
    if re.fullmatch(r"Repeat(_\d)?", parts[0]):
        parts = parts[1:]
    parts[0] = re.sub(r"^block(\d+)_(\d+)$", lambda m: f"Block{m.group(1)}_{m.group(2)}", parts[0])
    if parts[0] == "Block8":
        parts[0] = "Block8_6"
    return "_".join(parts)


def torch_prefix(layer: str, branch_convs: dict[tuple[str, str], list[str]]) -> str:
    """facenet-pytorch's module path of a Keras-named layer (its conv, without ``.conv``/``.bn``).
    ``branch_convs`` lists each (block, branch)'s conv names, so that a one-conv branch maps to a module and a
    longer one to the positions of a Sequential."""
    if layer == "Bottleneck":
        return "last_linear"
    m = re.fullmatch(r"(Block35|Block17|Block8)_(\d+)_(.+)", layer)
    if m:
        kind, k, rest = m.groups()
        block = "block8" if (kind, k) == ("Block8", "6") else f"{_BLOCKS[kind]}.{int(k) - 1}"
        prefix = f"{kind}_{k}"
    elif layer.startswith(("Mixed_6a_", "Mixed_7a_")):
        prefix, rest = layer[:8], layer[9:]
        block = prefix.lower()
    else:
        return layer.split("_")[0].lower() + "_" + layer.split("_")[1]  # Conv2d_1a_3x3 -> conv2d_1a
    if rest == "Conv2d_1x1":
        return f"{block}.conv2d"  # the block's up-projection (with a bias, no batch norm)
    b = re.fullmatch(r"Branch_(\d)_(Conv2d_(?:\d[a-z]_)?\d+x\d+)", rest)
    if b is None:
        raise ValueError(f"unknown InceptionResNetV1 layer {layer!r}")
    convs = branch_convs[prefix, b.group(1)]
    branch = f"{block}.branch{b.group(1)}"
    return branch if len(convs) == 1 else f"{branch}.{convs.index(b.group(2))}"


def _branches(layers: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for layer in layers:
        m = re.fullmatch(r"(Block\d+_\d+|Mixed_\da)_Branch_(\d)_(Conv2d_(?:\d[a-z]_)?\d+x\d+)", layer)
        if m and m.group(3) not in out[m.group(1), m.group(2)]:
            out[m.group(1), m.group(2)].append(m.group(3))
    return {k: sorted(v) for k, v in out.items()}


#: the residual scale of each block kind in facenet-pytorch's network (the last Block8 is unscaled)
_SCALES = {"block35": 0.17, "block17": 0.10, "block8": 0.20, "Block8": 1.0}


def _check_scales(scales: dict[str, float]) -> None:
    """Refuse a file whose blocks scale their residuals otherwise than facenet-pytorch's network does."""
    for block, scale in scales.items():
        kind = block.split("_")[0] if block != "Block8" else block
        if abs(scale - _SCALES[kind]) > 1e-6:
            raise ValueError(f"block {block} scales its residual by {scale}, facenet-pytorch by {_SCALES[kind]}")


@dataclass
class Port:
    """A ported state dict and, for each of its tensors, the stored tensor it came from (None: a constant the
    source file does not store, such as the unit scale of a batch norm trained without one); ``unused`` lists the
    stored tensors no state tensor came from."""

    state: dict[str, np.ndarray]
    sources: dict[str, str | None]
    unused: list[str] = dataclasses.field(default_factory=list)

    def put(self, key: str, value: np.ndarray, source: str | None) -> None:
        self.state[key], self.sources[key] = value, source

    def batch_norm(self, prefix: str, beta: tuple[np.ndarray, str], mean: tuple[np.ndarray, str | None],
                   var: tuple[np.ndarray, str | None], weight: tuple[np.ndarray, str] | None = None) -> None:
        """A batch norm; without a stored scale (Keras ``scale=False``) its weight is 1."""
        self.put(f"{prefix}.weight", *(weight or (np.ones_like(beta[0]), None)))
        self.put(f"{prefix}.bias", *beta)
        self.put(f"{prefix}.running_mean", *mean)
        self.put(f"{prefix}.running_var", *var)


# ------------------------------------------------------------------------------------------------ Keras HDF5
def keras_state(h5_path: str | Path) -> Port:
    """facenet-pytorch's state dict (128-d bottleneck) from keras-facenet's HDF5 file."""
    import h5py

    stored: dict[str, np.ndarray] = {}
    with h5py.File(h5_path, "r") as f:
        f["model_weights"].visititems(lambda n, o: stored.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset)
                                      else None)
        config = json.loads(f.attrs["model_config"])
    by_layer: dict[str, dict[str, str]] = defaultdict(dict)
    for key in stored:
        layer, _, leaf = key.rpartition("/")
        by_layer[layer.split("/")[0]][leaf.removesuffix(":0")] = key
    lambdas = [layer["config"]["arguments"]["scale"] for layer in config["config"]["layers"]
               if layer["class_name"] == "Lambda"]
    kinds = ["block35"] * 5 + ["block17"] * 10 + ["block8"] * 5 + ["Block8"]
    if len(lambdas) != len(kinds):
        raise ValueError(f"{h5_path}: {len(lambdas)} residual blocks, InceptionResNetV1 has {len(kinds)}")
    _check_scales({f"{k}_{i}" if k != "Block8" else k: s for i, (k, s) in enumerate(zip(kinds, lambdas, strict=True))})
    branch_convs = _branches(by_layer)
    port = Port({}, {})
    for layer, leaves in by_layer.items():
        get = {leaf: (stored[key], key) for leaf, key in leaves.items()}
        if layer.endswith("_BatchNorm"):
            base = layer.removesuffix("_BatchNorm")
            prefix = "last_bn" if base == "Bottleneck" else torch_prefix(base, branch_convs) + ".bn"
            port.batch_norm(prefix, get["beta"], get["moving_mean"], get["moving_variance"])
        elif layer == "Bottleneck":
            port.put("last_linear.weight", get["kernel"][0].T, get["kernel"][1])
        else:
            prefix = torch_prefix(layer, branch_convs)
            weight = get["kernel"][0].transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
            if prefix.endswith(".conv2d"):
                port.put(f"{prefix}.weight", weight, get["kernel"][1])
                port.put(f"{prefix}.bias", *get["bias"])
            else:
                port.put(f"{prefix}.conv.weight", weight, get["kernel"][1])
    port.unused = sorted(set(stored) - set(port.sources.values()))
    return port


# ------------------------------------------------------------------------------------------------ frozen TF graph
def _varint(b: bytes, i: int) -> tuple[int, int]:
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        wire = key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} not expected in a GraphDef")
        yield key >> 3, wire, v


def _tensor(t: bytes) -> np.ndarray:
    """A float32 TensorProto (dtype 1) as an array: shape from ``tensor_shape``, data from ``tensor_content`` or
    packed ``float_val``."""
    shape, content, floats = [], b"", []
    for f, wire, v in _fields(t):
        if f == 2:  # TensorShapeProto: repeated dim (field 2), each with its size (field 1)
            shape = [next((size for sf, _sw, size in _fields(dim) if sf == 1), 0)
                     for ff, _ww, dim in _fields(v) if ff == 2]
        elif f == 4:
            content = v
        elif f == 5:
            floats = (list(struct.unpack(f"<{len(v) // 4}f", v)) if wire == 2 else
                      floats + list(struct.unpack("<f", v)))
    data = np.frombuffer(content, "<f4") if content else np.asarray(floats, np.float32)
    if data.size == 1 and int(np.prod(shape)) > 1:
        data = np.full(int(np.prod(shape)), data[0], np.float32)
    return data.reshape(shape).astype(np.float32)


def graph_constants(pb_path: str | Path) -> dict[str, np.ndarray]:
    """Every float constant of a frozen GraphDef by node name."""
    out = {}
    for field, _w, node in _fields(Path(pb_path).read_bytes()):
        if field != 1:
            continue
        name = op = value = None
        for f, _w2, v in _fields(node):
            if f == 1:
                name = v.decode()
            elif f == 2:
                op = v.decode()
            elif f == 5:
                entry = dict((k, x) for k, _w3, x in _fields(v))
                if entry.get(1) == b"value":
                    value = next((x for k, _w4, x in _fields(entry[2]) if k == 8), None)
        if op == "Const" and value is not None:
            dtype = next((x for k, _w5, x in _fields(value) if k == 1), 0)
            if dtype == 1:
                out[name] = _tensor(value)
    return out


def graph_state(pb_path: str | Path) -> Port:
    """facenet-pytorch's state dict (512-d) from davidsandberg's frozen graph, whose batch norms are folded into
    each convolution (``weights`` and ``Conv2D_bn_offset``): the batch norms are set to the identity plus that
    offset."""
    consts = graph_constants(pb_path)
    conv_layers = {k.rsplit("/", 1)[0]: keras_name(k.rsplit("/", 1)[0]) for k in consts
                   if k.endswith("/weights") and "Bottleneck" not in k}
    branch_convs = _branches(conv_layers.values())
    port = Port({}, {})
    for path, layer in conv_layers.items():
        prefix = torch_prefix(layer, branch_convs)
        weight = consts[f"{path}/weights"].transpose(3, 2, 0, 1)
        if prefix.endswith(".conv2d"):
            port.put(f"{prefix}.weight", weight, f"{path}/weights")
            port.put(f"{prefix}.bias", consts[f"{path}/biases"], f"{path}/biases")
        else:
            port.put(f"{prefix}.conv.weight", weight, f"{path}/weights")
            offset = consts[f"{path}/Conv2D_bn_offset"]
            # identity batch norm plus the folded offset: (x - 0) / sqrt((1 - eps) + eps) * 1 + offset
            port.batch_norm(f"{prefix}.bn", (offset, f"{path}/Conv2D_bn_offset"), (np.zeros_like(offset), None),
                            (np.full_like(offset, 1 - 1e-3), None))
    b = "InceptionResnetV1/Bottleneck"
    port.put("last_linear.weight", consts[f"{b}/weights"].T, f"{b}/weights")
    port.batch_norm("last_bn", *((consts[f"{b}/BatchNorm/{k}"], f"{b}/BatchNorm/{k}")
                                 for k in ("beta", "moving_mean", "moving_variance", "Const")))
    _check_scales({k.split("/")[-3]: float(v) for k, v in consts.items() if k.endswith("/mul/x")})
    learnt = [k for k, v in consts.items() if v.ndim >= 1 and v.size > 8]  # not shapes, axes or scalars
    port.unused = sorted(set(learnt) - set(port.sources.values()))
    return port


def inception_resnet_v1(port: Port, dim: int):
    """facenet-pytorch's InceptionResnetV1 (no classifier) with a ``dim``-wide bottleneck, loaded strictly with
    the port's state (every parameter and buffer of the network must be in it, with its shape); a port that left
    a stored tensor unused is refused."""
    import torch
    from facenet_pytorch import InceptionResnetV1
    from torch import nn

    net = InceptionResnetV1(pretrained=None, classify=False, num_classes=None)
    if dim != 512:
        net.last_linear = nn.Linear(1792, dim, bias=False)
        net.last_bn = nn.BatchNorm1d(dim, eps=0.001, momentum=0.1, affine=True)
    if port.unused:
        raise ValueError(f"the port left {len(port.unused)} stored tensors unused, e.g. {port.unused[0]}")
    full = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in port.state.items()}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            full[k] = v
    net.load_state_dict(full, strict=True)
    return net.eval()


def _key(field: int, wire: int) -> bytes:
    return _encode_varint(field << 3 | wire)


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def without_control_inputs(pb_path: str | Path) -> bytes:
    """The frozen graph with its control-dependency inputs (``^node``) dropped: two shape constants of this graph
    carry them, and OpenCV >= 4.10's graph simplifier refuses them; the computation is unchanged. Used to run
    OpenCV ``dnn``'s own forward pass as the port's reference."""
    out = bytearray()
    for field, wire, value in _fields(Path(pb_path).read_bytes()):
        if field == 1:
            node = bytearray()
            for f, w, v in _fields(value):
                if f == 3 and v.startswith(b"^"):
                    continue
                node += _key(f, w) + (_encode_varint(len(v)) + v if w == 2 else
                                      _encode_varint(v) if w == 0 else v)
            value = bytes(node)
        out += _key(field, wire) + (_encode_varint(len(value)) + value if wire == 2 else
                                    _encode_varint(value) if wire == 0 else value)
    return bytes(out)
