"""Training batches of aligned uint8 crops, shared by every model trained on crops (reports 001 and 004):
seeded M-per-class batches, scaled to (x - 127.5) / 128 and flipped on the device."""

from __future__ import annotations

import numpy as np
import torch


def scale_crops(x: torch.Tensor) -> torch.Tensor:
    """uint8 crops to the (x - 127.5) / 128 the crop-trained models take."""
    return (x.float() - 127.5) / 128.0


#: Crops up to this many bytes go to the GPU once (uint8); larger sets (CASIA-WebFace as a memory map) are
#: gathered per batch on the CPU, pinned and copied without blocking.
DEVICE_BUDGET_BYTES = 8 << 30


class CropBatches:
    """Seeded M-per-class batches of uint8 crops, scaled to (x - 127.5) / 128 and flipped on the device."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, batch_size: int, m_per_class: int = 2,
                 seed: int = 0) -> None:
        self.crops, self.labels = crops, np.asarray(labels)
        self.batch_size, self.seed, self.m_per_class = batch_size, seed, m_per_class
        self._on: dict[str, tuple[torch.Tensor | None, torch.Tensor]] = {}

    def _place(self, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor]:
        key = str(device)
        if key not in self._on:
            y = torch.tensor(np.array(self.labels), dtype=torch.long).to(device)
            whole = device.type == "cpu" or (not isinstance(self.crops, np.memmap)
                                             and self.crops.nbytes <= DEVICE_BUDGET_BYTES)
            x = torch.from_numpy(np.ascontiguousarray(self.crops)).permute(0, 3, 1, 2).to(device) if whole else None
            self._on = {key: (x, y)}
        return self._on[key]

    def order(self, epoch: int) -> list[int]:
        """The epoch's sample order: a function of (seed, epoch) alone, so a resumed run sees what an
        uninterrupted one would (pytorch-metric-learning's sampler draws from NumPy's global generator and
        shuffles its own label list in place, hence a fresh sampler and a reseeded generator per epoch)."""
        from pytorch_metric_learning import samplers

        np.random.seed((self.seed * 1000 + epoch) % 2**32)
        torch.manual_seed(self.seed * 1000 + epoch)
        sampler = samplers.MPerClassSampler(self.labels, m=self.m_per_class, batch_size=self.batch_size,
                                            length_before_new_iter=len(self.labels))
        return list(iter(sampler))

    def __call__(self, epoch: int, device: torch.device):
        device = torch.device(device)
        x_all, y_all = self._place(device)
        idx = torch.as_tensor(self.order(epoch), dtype=torch.long)
        gen = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        flips = torch.rand(len(idx), generator=gen) < 0.5
        for i in range(0, len(idx) - self.batch_size + 1, self.batch_size):
            b = idx[i:i + self.batch_size]
            if x_all is not None:
                x = x_all[b.to(device)]
            else:  # per-batch gather from the (memory-mapped) array, pinned for an asynchronous copy
                x = torch.from_numpy(np.ascontiguousarray(self.crops[b.numpy()])).permute(0, 3, 1, 2)
                x = x.pin_memory().to(device, non_blocking=True)
            x = scale_crops(x)
            f = flips[i:i + self.batch_size].to(device)
            x = torch.where(f.view(-1, 1, 1, 1), torch.flip(x, dims=[3]), x)
            yield x, y_all[b.to(device)]
