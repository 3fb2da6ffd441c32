"""Per-image training augmentations on batches already on the device (report 001's: random crop, random erasing,
rotation), each drawn independently for every image from a seeded generator, so an epoch's augmentations are a
function of (seed, epoch) alone and a resumed run sees what an uninterrupted one would."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: the augmentations ``BatchAugment`` knows, with what each does (for the recipe tables)
KINDS = {
    "crop": "random crop of 80-100 % of the side, resized back",
    "rotation": "random rotation of up to 10 degrees",
    "erasing": "random erasing (p 0.5, 2-20 % of the area, filled with 0)",
}


@dataclass(frozen=True)
class BatchAugment:
    """Augment a float batch (n, c, h, w) in place of the data loader: ``crop`` and ``rotation`` as one affine warp
    per image (bilinear, border padding), then ``erasing`` as one rectangle per image (with probability 0.5)."""

    kinds: tuple[str, ...]
    min_scale: float = 0.8
    max_degrees: float = 10.0
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown augmentation(s) {sorted(unknown)}: use {', '.join(KINDS)}")

    def describe(self) -> str:
        return "; ".join(KINDS[k] for k in self.kinds) or "none"

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = len(x)
        if not n or not self.kinds:
            return x
        # every draw comes from ``gen`` on the CPU, whatever the device, so the numbers do not depend on it
        if "crop" in self.kinds or "rotation" in self.kinds:
            scale = torch.ones(n)
            shift = torch.zeros(n, 2)
            angle = torch.zeros(n)
            if "crop" in self.kinds:
                scale = self.min_scale + (1 - self.min_scale) * torch.rand(n, generator=gen)
                shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (1 - scale)[:, None]
            if "rotation" in self.kinds:
                angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(self.max_degrees)
            cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
            theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
            grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if "erasing" in self.kinds:
            h, w = x.shape[-2:]
            lo, hi = self.erase_area
            area = lo + (hi - lo) * torch.rand(n, generator=gen)
            aspect = torch.exp((torch.rand(n, generator=gen) * 2 - 1) * math.log(3.0))
            eh = (torch.sqrt(area * aspect) * h).clamp(1, h).long()
            ew = (torch.sqrt(area / aspect) * w).clamp(1, w).long()
            top = (torch.rand(n, generator=gen) * (h - eh + 1)).long()
            left = (torch.rand(n, generator=gen) * (w - ew + 1)).long()
            on = torch.rand(n, generator=gen) < self.erase_p
            rows, cols = torch.arange(h)[None, :], torch.arange(w)[None, :]
            inside_r = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
            inside_c = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
            mask = (inside_r[:, :, None] & inside_c[:, None, :] & on[:, None, None]).to(x.device)
            x = x.masked_fill(mask[:, None], 0.0)
        return x


__all__ = ["KINDS", "BatchAugment"]
