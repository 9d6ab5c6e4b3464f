"""Training on several processes: ``torchrun --nproc_per_node N -m marginlive train ...``.

torchrun starts N copies of the command with RANK, WORLD_SIZE and LOCAL_RANK set. Each process
joins one group (gloo on the CPU, nccl on GPUs, one GPU per process), sees the same batch order
and trains on its share of every batch (rows rank, rank + N, ...); DistributedDataParallel
averages the gradients, so every process holds the same weights after each step. Only rank 0
writes files. Without torchrun the group is this one process and nothing changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among torchrun's: ``rank`` of ``world`` processes, ``local_rank`` on its
    machine (its GPU's index). The default is training alone."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the outputs."""
        return self.rank == 0

    def device(self, dev: torch.device) -> torch.device:
        """This process's device: its own GPU under torchrun."""
        if self.world > 1 and dev.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device(f"cuda:{self.local_rank}")
        return dev

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel
        on_gpu = next(module.parameters()).is_cuda
        return DistributedDataParallel(module, device_ids=[self.local_rank] if on_gpu else None)


def process_group(device_type: str = "cpu") -> ProcessGroup:
    """The group this process belongs to, joined on first call under torchrun (nccl when training
    on GPUs, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return ProcessGroup()
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
