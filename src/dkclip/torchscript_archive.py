"""Reading the weights of a TorchScript archive (OpenAI's CLIP ``.pt`` files) without executing anything.

``torch.jit.load`` compiles the archive's code and runs it: a module's ``__setstate__`` can loop forever or do
anything TorchScript can do, and the pickled data can name any callable. This reader does neither. It opens the
zip, reads ``data.pkl`` with a restricted unpickler and the tensor storages from ``data/<key>``:

- the only callables the pickle may name are the few the TorchScript serialiser uses for plain data: the tensor
  rebuild function, the storage types, ``OrderedDict`` and the typed-list builders of ``torch.jit._pickle``. They
  are mapped to this module's own implementations; any other global is refused with :class:`CheckpointError`;
- the archive's module classes (``__torch__.*``) become inert records: their pickled state is stored, never
  interpreted, and no ``__setstate__`` of the archive runs;
- tensors are built from the raw little-endian storage bytes (bounds-checked views, then copied).

The module tree is then flattened into a state dict (``visual.conv1.weight`` ...) of every tensor attribute;
plain attributes (``training``, ``input_resolution`` ...) are returned separately. The archive's ``code/`` is
never read.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
_LIST_BUILDERS = frozenset({"build_intlist", "build_tensorlist", "build_doublelist", "build_boollist",
                            "build_complexlist"})
_MAX_DEPTH = 64


class ScriptObject:
    """An object of the archive's own classes (``__torch__.*``), kept as data: its class name and its state."""

    qualified_name = "__torch__.?"

    def __setstate__(self, state: Any) -> None:
        # Stored, never interpreted: this replaces whatever __setstate__ the archive's code defines.
        self.__dict__["_state"] = state

    @property
    def state(self) -> Any:
        return self.__dict__.get("_state")


_SCRIPT_CLASSES: dict[str, type[ScriptObject]] = {}


def _script_class(module: str, name: str) -> type[ScriptObject]:
    qualified = f"{module}.{name}"
    cls = _SCRIPT_CLASSES.get(qualified)
    if cls is None:
        cls = type(name, (ScriptObject,), {"qualified_name": qualified})
        _SCRIPT_CLASSES[qualified] = cls
    return cls


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: Any) -> torch.Tensor:
    """The serialiser's ``_rebuild_tensor_v2`` for plain tensors: a bounds-checked strided view, copied."""
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise pickle.UnpicklingError("tensor without a storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or any(s < 0 for s in (*size, *stride)) or offset < 0:
        raise pickle.UnpicklingError(f"invalid tensor geometry {size} / {stride} @ {offset}")
    extent = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1 if all(size) else offset
    if extent > storage.numel():
        raise pickle.UnpicklingError(f"tensor {size} reaches past its storage of {storage.numel()} elements")
    return torch.as_strided(storage, size, stride, offset).clone()


def _typed_list(items: Any) -> list[Any]:
    return list(items)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, where: Path) -> None:
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix
        self.where = where
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__.") or module == "__torch__":
            return _script_class(module, name)
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch.jit._pickle" and name in _LIST_BUILDERS:
            return _typed_list
        raise CheckpointError(f"{self.where}: the TorchScript archive names {module}.{name}, which a weights file "
                              "never needs; refusing to load it",
                              hint="if you trust the file's origin, load it with trust_torchscript=True "
                                   "(--trust-torchscript), which lets TorchScript execute it")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid
        key = str(key)
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"storage {key} is missing from the archive") from None
            itemsize = torch.empty((), dtype=stype.dtype).element_size()
            if len(raw) < int(numel) * itemsize:
                raise pickle.UnpicklingError(f"storage {key} holds {len(raw)} bytes, needs {int(numel) * itemsize}")
            self.storages[key] = torch.frombuffer(bytearray(raw[: int(numel) * itemsize]), dtype=stype.dtype)
        return self.storages[key]


def is_torchscript_archive(path: str | Path) -> bool:
    """A zip with a TorchScript layout (``code/`` or ``constants.pkl`` beside ``data.pkl``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in zf.namelist())


def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor], plain: dict[str, Any], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise CheckpointError(f"module tree deeper than {_MAX_DEPTH} levels at {prefix!r}")
    state = obj.state if isinstance(obj, ScriptObject) else obj
    if not isinstance(state, dict):
        return  # a custom __getstate__ result: opaque data, not named weights
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            tensors[name] = value
        elif isinstance(value, ScriptObject):
            _flatten(value, f"{name}.", tensors, plain, depth + 1)
        elif isinstance(value, bool | int | float | str) or value is None:
            plain[name] = value


def read_torchscript_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict of every tensor attribute, plain attributes) of a TorchScript archive, executing nothing."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise CheckpointError(f"{path}: not a TorchScript archive (expected one <name>/data.pkl, found "
                                      f"{len(pickles)})")
            prefix = pickles[0][: -len("data.pkl")]
            unpickler = _RestrictedUnpickler(archive.read(pickles[0]), archive, prefix, path)
            root = unpickler.load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: damaged TorchScript archive ({type(exc).__name__}: {exc})") from None
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {}
    _flatten(root, "", tensors, plain, 0)
    if not tensors:
        raise CheckpointError(f"{path}: the TorchScript archive holds no named weights")
    return tensors, plain


def load_trusted_torchscript(path: str | Path) -> dict[str, torch.Tensor]:
    """``torch.jit.load`` (executes the archive's code): only for files whose origin the user vouches for."""
    loader: Callable[..., Any] = torch.jit.load
    return dict(loader(str(path), map_location="cpu").state_dict())
