"""Launcher-agnostic distributed set-up: DDP only when WORLD_SIZE > 1 (torchrun, also multi-node).

NCCL on GPU, gloo on CPU. Evaluation gathers predictions from every rank so metrics use the full test set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from ..errors import ConfigError, DKClipError, UsageError


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def parse_device(device: str | torch.device | None, option: str,
                 error: type[DKClipError] = UsageError) -> torch.device:
    """The device named by a user's ``option`` (``run.device``, ``--device``): ``"auto"`` or None is a GPU when
    torch sees one, else the CPU. A name torch does not know, or a GPU this machine does not have, is ``error``
    in plain words, naming the option (torch's own message is a traceback about drivers)."""
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise error(f"{option}: {str(device)!r} is not a device name (auto, cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise error(f"{option}: {str(device)!r} requested, but torch {torch.__version__} sees no CUDA device",
                    hint=f"use {option} cpu" if option.startswith("--") else f"use {option}=auto or cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise error(f"{option}: {str(device)!r}, but only {torch.cuda.device_count()} CUDA devices are visible")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise error(f"{option}: {str(device)!r} requested, but this torch has no MPS (Apple GPU) device")
    return dev


def init_distributed(device: str = "auto") -> DistInfo:
    """Read torchrun's environment; start a process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = parse_device(device, "run.device", ConfigError)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, dev)


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """True on every rank when any rank's ``flag`` is set (so all ranks stop at the same optimiser step)."""
    if not info.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(value)
    return bool(value.item() > 0)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_cat(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate a (n_i, ...) tensor from every rank (sizes may differ) along dim 0, in rank order."""
    if not info.enabled:
        return tensor
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(size) for _ in range(info.world_size)]
    dist.all_gather(sizes, size)
    max_n = int(max(s.item() for s in sizes))
    padded = torch.zeros((max_n, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor
    gathered = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[: int(s.item())] for g, s in zip(gathered, sizes, strict=True)], dim=0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
