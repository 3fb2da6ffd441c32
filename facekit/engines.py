"""ONNX Runtime as the CPU inference engine: quiet CPU sessions, and torch networks exported to ONNX once (cached
under a digest of their weights and code), because ONNX Runtime runs this book's CNNs faster than torch on a CPU
with the same vectors (``benchmarks/bench_engine.py`` measures both; a test pins the agreement)."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import warnings
from pathlib import Path

from facekit import paths, runtime

#: Part of every exported file's digest: bump it when the export's settings below change.
EXPORT_VERSION = "1"
OPSET = 18
ENGINES = ("torch", "onnxruntime")


class EngineError(ValueError):
    """An engine that cannot run here, named by an argument or by ``FACEKIT_ENGINE``."""


def choose(engine: str | None, device: str) -> str:
    """The engine a network runs in: ``engine`` when given, else ``FACEKIT_ENGINE`` when set (one engine for a
    whole run: ``torch`` reproduces records written before ONNX Runtime ran them), else ONNX Runtime on the CPU and
    torch on any other device (ONNX Runtime's CPU build is the one installed here). Checked either way."""
    source = "engine"
    if not engine:
        engine, source = os.environ.get("FACEKIT_ENGINE", "").strip(), "FACEKIT_ENGINE"
    engine = engine or ("onnxruntime" if str(device) == "cpu" else "torch")
    if engine not in ENGINES:
        raise EngineError(f"{source}={engine!r} is not an engine: use one of {', '.join(ENGINES)}")
    if engine == "onnxruntime" and str(device) != "cpu":
        raise EngineError(f"{source}=onnxruntime runs on the CPU here, not on {device}: use torch there")
    return engine


def onnx_session(model: str | Path | bytes, threads: int | None = None):
    """A CPU ONNX Runtime session with quiet logs and ``threads`` intra-op threads (None: ``runtime.threads()``,
    all cores unless a worker process was capped)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # InsightFace's export lists its weights as inputs: one warning per tensor
    options.intra_op_num_threads = threads or runtime.threads()
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                providers=["CPUExecutionProvider"])


def weights_mark(module) -> tuple[int, ...]:
    """A cheap mark that changes whenever a tensor of ``module`` is written in place (an optimiser step, a
    ``load_state_dict``): torch's per-tensor version counters, so an exported graph is never used stale."""
    return tuple(_version(t) for t in module.state_dict(keep_vars=True).values())


def _version(t) -> int:
    try:
        return t._version
    except RuntimeError:  # a tensor made under torch.inference_mode keeps no counter (nor is it trained)
        return -1


def module_digest(module, signature: tuple) -> str:
    """sha256 of what fixes the exported graph: the weights, the class and its module's source, the export's
    ``signature`` (input shape, outputs, free axes), torch's version and ``EXPORT_VERSION``."""
    import torch

    cls = type(module)
    h = hashlib.sha256(f"{EXPORT_VERSION}|{torch.__version__}|{cls.__module__}.{cls.__qualname__}|{signature}"
                       .encode())
    with contextlib.suppress(OSError, TypeError):  # a class defined interactively has no source file
        h.update(inspect.getsource(inspect.getmodule(cls)).encode())
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def exported(module, input_shape: tuple[int, ...], name: str, outputs: tuple[str, ...] = ("y",),
             any_size: bool = False) -> Path:
    """The ONNX file of ``module`` in eval mode, input ``x`` and ``outputs`` with a free batch axis (and, with
    ``any_size``, free image height and width, the outputs' second axis following them): exported on first use
    into the cache, then read. Raises whatever the exporter raises for an unsupported operator."""
    import torch

    digest = module_digest(module, (*input_shape, *outputs, any_size))
    path = paths.cache_dir() / "onnx" / f"{name.replace('/', '_')}-{digest[:16]}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    axes = {"x": {0: "n", 2: "h", 3: "w"} if any_size else {0: "n"},
            **{o: {0: "n", 1: "k"} if any_size else {0: "n"} for o in outputs}}
    training = module.training
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(module.eval(), (torch.zeros(*input_shape),), str(tmp), dynamo=False,
                              input_names=["x"], output_names=list(outputs), dynamic_axes=axes, opset_version=OPSET)
        os.replace(tmp, path)
    finally:
        module.train(training)
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["ENGINES", "EXPORT_VERSION", "EngineError", "choose", "exported", "module_digest", "onnx_session",
           "weights_mark"]
