"""Data sets for TinyNAS: scikit-learn's digits (no download) or an ImageFolder tree of images.

Images come back as float32 NCHW tensors in [0, 1] at the requested resolution, RGB (digits'
grey levels repeated), split deterministically into train / val / test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import TinyEngineError

_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm")


@dataclass
class Dataset:
    name: str
    images: np.ndarray      # N, 3, H, W float32 in [0, 1] (the source resolution)
    labels: np.ndarray      # N int64
    classes: list

    def split(self, seed: int = 0, val: float = 0.15, test: float = 0.15):
        idx = np.random.default_rng(seed).permutation(len(self.labels))
        n_test, n_val = int(len(idx) * test), int(len(idx) * val)
        parts = idx[n_test + n_val:], idx[n_test:n_test + n_val], idx[:n_test]
        return [(self.images[p], self.labels[p]) for p in parts]


def load(source: str = "digits") -> Dataset:
    if source == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.images.astype(np.float32) / 16.0)[:, None].repeat(3, axis=1)
        return Dataset("digits", x, d.target.astype(np.int64), [str(c) for c in range(10)])
    if not os.path.isdir(source):
        raise TinyEngineError(f"dataset '{source}' is neither 'digits' nor a folder of class sub-folders")
    from PIL import Image

    classes = sorted(e for e in os.listdir(source) if os.path.isdir(os.path.join(source, e)))
    if len(classes) < 2:
        raise TinyEngineError(f"dataset folder {source} needs at least two class sub-folders (ImageFolder layout)")
    xs, ys, size = [], [], None
    for ci, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(source, c))):
            if f.lower().endswith(_EXTS):
                im = Image.open(os.path.join(source, c, f)).convert("RGB")
                size = size or (min(im.size[0], 256), min(im.size[1], 256))
                xs.append(np.asarray(im.resize(size), np.float32).transpose(2, 0, 1) / 255.0)
                ys.append(ci)
    if not xs:
        raise TinyEngineError(f"dataset folder {source} holds no images ({', '.join(_EXTS)})")
    return Dataset(os.path.basename(os.path.normpath(source)), np.stack(xs), np.asarray(ys, np.int64), classes)


def resize(images: np.ndarray, resolution: int):
    """NCHW float images at ``resolution`` x ``resolution`` (bilinear), as a torch tensor."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(images))
    if t.shape[-1] == resolution and t.shape[-2] == resolution:
        return t
    return F.interpolate(t, size=(resolution, resolution), mode="bilinear", align_corners=False)
