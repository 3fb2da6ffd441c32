"""Training batches of aligned uint8 crops, shared by every model trained on crops (reports 001 and 004):
seeded M-per-class batches or offline triplets, scaled to (x - 127.5) / 128 and flipped (and augmented, where
asked) on the device."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def scale_crops(x: torch.Tensor) -> torch.Tensor:
    """uint8 crops to the (x - 127.5) / 128 the crop-trained models take."""
    return (x.float() - 127.5) / 128.0


#: Crops up to this many bytes go to the GPU once (uint8); larger sets (CASIA-WebFace as a memory map) are
#: gathered per batch on the CPU, pinned and copied without blocking.
DEVICE_BUDGET_BYTES = 8 << 30


class CropBatches:
    """Seeded M-per-class batches of uint8 crops, scaled to (x - 127.5) / 128 and flipped on the device, then
    ``augment``-ed where given (``facekit.augment.BatchAugment``; its draws come from a generator of their own,
    so a run without it sees the same batches and flips)."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, batch_size: int, m_per_class: int = 2,
                 seed: int = 0, augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                 ) -> None:
        self.crops, self.labels = crops, np.asarray(labels)
        self.batch_size, self.seed, self.m_per_class = batch_size, seed, m_per_class
        self.augment = augment
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
        aug_gen = torch.Generator().manual_seed(self.seed * 1000 + epoch + 7_919_000)
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
            if self.augment is not None:
                x = self.augment(x, aug_gen)
            yield x, y_all[b.to(device)]


class TripletBatches(CropBatches):
    """Offline triplets (report 001's InceptionV2): each epoch draws, seeded, one (anchor, positive, negative)
    per anchor of people with two or more images (as many images as an epoch of ``CropBatches``), and lays each
    batch out as its anchors, then their positives, then their negatives (``triplet_indices`` names them)."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, batch_size: int, seed: int = 0,
                 augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None) -> None:
        if batch_size < 3:
            raise ValueError(f"a batch of offline triplets needs at least 3 images, not {batch_size}")
        super().__init__(crops, labels, 3 * (batch_size // 3), 2, seed, augment)
        _, inverse, counts = np.unique(self.labels, return_inverse=True, return_counts=True)
        self._eligible = np.flatnonzero(counts[inverse] >= 2)
        if not len(self._eligible) or len(counts) < 2:
            raise ValueError("offline triplets need two people, one of them with two images or more")
        self._by_label = {lab: np.flatnonzero(self.labels == lab) for lab in np.unique(self.labels)}

    def order(self, epoch: int) -> list[int]:
        rng = np.random.default_rng(self.seed * 1000 + epoch)
        k = self.batch_size // 3
        n = max(1, len(self.labels) // self.batch_size) * k
        anchors = rng.choice(self._eligible, n, replace=len(self._eligible) < n)
        positives = np.array([rng.choice(self._by_label[self.labels[a]][self._by_label[self.labels[a]] != a])
                              for a in anchors])
        negatives = rng.integers(0, len(self.labels), n)
        same = self.labels[negatives] == self.labels[anchors]
        while same.any():  # redraw the negatives that hit the anchor's person
            negatives[same] = rng.integers(0, len(self.labels), int(same.sum()))
            same = self.labels[negatives] == self.labels[anchors]
        return [int(i) for j in range(0, n, k) for part in (anchors, positives, negatives) for i in part[j:j + k]]


def triplet_indices(batch_rows: int, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
    """pytorch-metric-learning's ``indices_tuple`` (anchors, positives, negatives) of a ``TripletBatches`` batch."""
    k = batch_rows // 3
    a = torch.arange(k, device=device)
    return a, a + k, a + 2 * k
