"""Inputs shared by the figure tools: models whose files exist, one image read like the test sets, crop boxes checked
against it and σ lists; every error names the option it is about."""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from wne_basicsr.data.image_io import decode_image
from wne_basicsr.errors import OptionError
from wne_basicsr.evaluation.sweep_config import ModelSpec


@dataclass(frozen=True)
class Crop:
    """A box of ``height``×``width`` pixels whose top-left corner is at (``top``, ``left``)."""

    top: int
    left: int
    height: int
    width: int

    @classmethod
    def from_value(cls, value: object, where: str) -> Crop:
        """From [top, left, height, width] (a list, or the text 'top,left,height,width'); ``where`` names the option."""
        parts = value.split(',') if isinstance(value, str) else value
        try:
            numbers = [int(p) if isinstance(p, str) else p for p in parts]
        except (TypeError, ValueError):
            numbers = None
        if (not isinstance(numbers, (list, tuple)) or len(numbers) != 4
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers)):
            raise OptionError(f'{where}: expected [top, left, height, width] in pixels (integers), got {value!r}')
        crop = cls(*numbers)
        if crop.top < 0 or crop.left < 0 or crop.height < 1 or crop.width < 1:
            raise OptionError(f'{where}: top and left must be >= 0 and height, width >= 1, got {list(numbers)}')
        return crop

    def check_inside(self, height: int, width: int, where: str) -> None:
        """Raise an OptionError naming ``where`` unless the box lies inside a ``height``×``width`` image."""
        if self.top + self.height > height or self.left + self.width > width:
            raise OptionError(f'{where}: crop {self.as_list()} (top, left, height, width) reaches outside the '
                              f'{height}×{width} image')

    def apply(self, image: Tensor) -> Tensor:
        """The box of an image whose last two dimensions are H×W."""
        return image[..., self.top:self.top + self.height, self.left:self.left + self.width]

    def as_list(self) -> list[int]:
        """[top, left, height, width]."""
        return [self.top, self.left, self.height, self.width]


def read_image(path: str, color: str, where: str) -> Tensor:
    """An image file as a C×H×W float32 tensor in [0, 1], decoded like the test sets (gray = BT.601 luma)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{where}: image file {path!r} does not exist')
    with open(path, 'rb') as f:
        content = f.read()
    return torch.from_numpy(decode_image(content, path, color).transpose(2, 0, 1).copy())


def image_stem(path: str) -> str:
    """The file name without folder and extension: the image's name in the sweeps' noise seeds."""
    return osp.splitext(osp.basename(path))[0]


def check_sigmas(values: Sequence[object], where: str) -> list[float]:
    """A non-empty list of distinct σ values in 8-bit units, each a number >= 0."""
    if not isinstance(values, (list, tuple)) or not values:
        raise OptionError(f'{where}: expected a non-empty list of σ values (8-bit units), got {values!r}')
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise OptionError(f'{where}: every σ must be a number >= 0 (8-bit units), got {value!r} in {list(values)}')
    if len(set(values)) != len(values):
        raise OptionError(f'{where}: σ values must be distinct, got {list(values)}')
    return [float(v) for v in values]


def check_options_file(label: str, opt: object, where: str = 'models') -> None:
    """Raise an error naming ``<where>.<label>`` when the entry is no mapping or its training options are missing."""
    if not isinstance(opt, Mapping):
        raise OptionError(f'{where}.{label}: expected {{options, checkpoint}}, got {opt!r}')
    if opt.get('options') and not osp.isfile(str(opt['options'])):
        raise FileNotFoundError(f'{where}.{label}.options: training options file {opt["options"]!r} does not exist')


def checked_model(label: str, opt: Mapping, where: str = 'models') -> ModelSpec:
    """``ModelSpec.from_opt`` after checking that its training options file and its checkpoint exist."""
    check_options_file(label, opt, where)
    spec = ModelSpec.from_opt(label, opt)
    check_checkpoint(spec, where)
    return spec


def check_checkpoint(spec: ModelSpec, where: str = 'models') -> None:
    """Raise a FileNotFoundError naming ``<where>.<label>.checkpoint`` when the model's checkpoint file is missing."""
    if not osp.isfile(spec.checkpoint):
        raise FileNotFoundError(f'{where}.{spec.label}.checkpoint: model file {spec.checkpoint!r} does not exist')
