#!/usr/bin/env python3
"""Writes a folder of test images for `ImageFolder` and what PIL makes of them:

    make_images.py FOLDER SIDE

FOLDER/classes/{cat,dog}/...: RGB and grayscale PNGs and JPEGs of odd sizes, landscape and portrait;
FOLDER/expected.npy: each, in sorted path order, opened by PIL, converted to RGB, its shorter side
resized to SIDE (PIL's bilinear filter, torchvision's Resize(SIDE) rounding), the centre SIDE x SIDE
square (torchvision's CenterCrop), /255 as float32 [N, 3, SIDE, SIDE]; FOLDER/labels.npy: 0 for cat, 1 for dog.
FOLDER/tall/thin.png, FOLDER/expected_tall.npy: a 2000 x 1 image and what PIL makes of it;
FOLDER/broken/: a PNG that is text, a JPEG cut in half, a file that is neither.
"""
import io
import os
import sys

import numpy as np
from PIL import Image

folder, side = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(5)


def picture(width, height):
    y, x = np.mgrid[0:height, 0:width]
    smooth = np.stack([128 + 100 * np.sin(x / 5 + c) * np.cos(y / 7 - c) for c in range(3)], axis=-1)
    return np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)


specs = [("cat", "a.png", 50, 37, "RGB", "PNG"), ("cat", "b.jpg", 64, 48, "RGB", "JPEG"), ("cat", "c.png", 20, 30, "L", "PNG"),
         ("dog", "d.jpeg", 33, 71, "RGB", "JPEG"), ("dog", "e.png", 24, 24, "RGB", "PNG"), ("dog", "f.jpg", 90, 40, "L", "JPEG")]
expected, labels = [], []
for label, name, width, height, mode, kind in sorted(specs, key=lambda s: (s[0], s[1])):
    os.makedirs(os.path.join(folder, "classes", label), exist_ok=True)
    image = Image.fromarray(picture(width, height)).convert(mode)
    path = os.path.join(folder, "classes", label, name)
    image.save(path, kind, **({"quality": 90} if kind == "JPEG" else {}))
    rgb = Image.open(path).convert("RGB")
    w, h = rgb.size
    size = (side, int(side * h / w)) if w <= h else (int(side * w / h), side)
    resized = rgb.resize(size, Image.BILINEAR)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    crop = np.asarray(resized.crop((left, top, left + side, top + side)), dtype=np.float32) / 255
    expected.append(crop.transpose(2, 0, 1))
    labels.append(0 if label == "cat" else 1)
np.save(os.path.join(folder, "expected.npy"), np.stack(expected))
np.save(os.path.join(folder, "labels.npy"), np.array(labels, dtype=np.float32))

# An extreme aspect ratio: 2000 x 1, resized to SIDE x (2000 SIDE) before its centre is cut.
os.makedirs(os.path.join(folder, "tall"), exist_ok=True)
thin = Image.fromarray(picture(2000, 1))
thin.save(os.path.join(folder, "tall", "thin.png"))
size = (int(side * 2000 / 1), side)
resized = thin.resize(size, Image.BILINEAR)
left = (size[0] - side) // 2
crop = np.asarray(resized.crop((left, 0, left + side, side)), dtype=np.float32) / 255
np.save(os.path.join(folder, "expected_tall.npy"), crop.transpose(2, 0, 1)[None])

broken = os.path.join(folder, "broken")
os.makedirs(broken, exist_ok=True)
with open(os.path.join(broken, "text.png"), "w") as f:
    f.write("not an image")
buffer = io.BytesIO()
Image.fromarray(picture(40, 40)).save(buffer, "JPEG")
with open(os.path.join(broken, "half.jpg"), "wb") as f:
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
buffer = io.BytesIO()
Image.fromarray(picture(40, 40)).save(buffer, "PNG")
with open(os.path.join(broken, "cut.png"), "wb") as f:
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
