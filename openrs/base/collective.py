"""What the ranks of a launched job agree on together (a no-op in a single process)."""

from __future__ import annotations


def any_rank(flag: bool) -> bool:
    """Whether flag is set on any rank of the job (every rank must call this at the same point); flag itself
    without a process group."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(float(flag), device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())
