"""Whole-image forward passes (padded to the window multiple, or tiled) that keep exact equivariance: wrappers
normalize once, then the backbone is tiled; plus eval mode and no-grad inference.

Options: top-level ``tile: {size: 256, overlap: 32}`` (``~`` or absent: whole images). Tiles of ``size``×``size``
overlap by at least ``overlap`` pixels and are stitched crop-centre (each pixel comes from the tile in which it lies
farthest from the border), so a network whose receptive-field radius is at most ``overlap / 2`` gives the untiled
output. For WNE/WNEInput/ScaleEquivariant the statistics come from the whole image (docs/method.md §1.5).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from wne_basicsr.archs.wrapper_arch import pad_to_multiple, window_multiple
from wne_basicsr.errors import OptionError


@runtime_checkable
class NormalizingNetwork(Protocol):
    """A wrapper whose forward is ``denormalize(run_backbone(z), x, stats)`` with ``z, stats = normalize(x)``."""

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]: ...

    def run_backbone(self, z: Tensor) -> Tensor: ...

    def denormalize(self, g: Tensor, x: Tensor, stats: tuple[Tensor, ...]) -> Tensor: ...


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TileSpec:
    """Square tiles of ``size`` pixels overlapping by at least ``overlap`` pixels."""

    size: int
    overlap: int = 32

    def __post_init__(self) -> None:
        if not _is_int(self.size) or self.size < 1:
            raise OptionError(f'tile.size must be a positive integer (pixels), got {self.size!r}')
        if not _is_int(self.overlap) or not 0 <= self.overlap < self.size:
            raise OptionError(f'tile.overlap must be an integer in [0, tile.size={self.size}), got {self.overlap!r}')

    @classmethod
    def from_opt(cls, value: object) -> TileSpec | None:
        """The spec of option ``tile`` ({size, overlap}); None when it is absent, ``~`` or false."""
        if value is None or value is False:
            return None
        if not isinstance(value, dict) or 'size' not in value or set(value) - {'size', 'overlap'}:
            raise OptionError(f'option tile must be {{size: <pixels>, overlap: <pixels>}} or ~, got {value!r}')
        return cls(value['size'], value.get('overlap', cls.overlap))


def tile_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``size`` covering ``length`` with at least ``overlap`` shared; the last ends flush."""
    if length <= size:
        return [0]
    stride = size - overlap
    starts = list(range(0, length - size, stride))
    return starts + [length - size]


def _cores(starts: list[int], size: int, length: int) -> list[tuple[int, int]]:
    """The [begin, end) span each tile contributes: seams sit in the middle of each overlap."""
    tile_len = min(size, length)
    seams = [(nxt + cur + tile_len) // 2 for cur, nxt in zip(starts, starts[1:])]
    return list(zip([0, *seams], [*seams, length]))


def tiled_apply(fn: Callable[[Tensor], Tensor], x: Tensor, tile: TileSpec) -> Tensor:
    """``fn`` (a size-preserving image-to-image map) applied tile by tile to B×C×H×W ``x`` and stitched crop-centre."""
    h, w = x.shape[-2:]
    rows, cols = tile_starts(h, tile.size, tile.overlap), tile_starts(w, tile.size, tile.overlap)
    out = None
    for top, (r0, r1) in zip(rows, _cores(rows, tile.size, h)):
        for left, (c0, c1) in zip(cols, _cores(cols, tile.size, w)):
            patch = x[..., top:top + tile.size, left:left + tile.size]
            result = fn(patch)
            if result.shape[-2:] != patch.shape[-2:]:
                raise OptionError(f'option tile needs a size-preserving network: a {tuple(patch.shape[-2:])} tile '
                                  f'gave {tuple(result.shape[-2:])}; remove option tile for this network')
            if out is None:
                out = result.new_empty((*result.shape[:-2], h, w))
            out[..., r0:r1, c0:c1] = result[..., r0 - top:r1 - top, c0 - left:c1 - left]
    return out


def padded_forward(net: nn.Module, x: Tensor) -> Tensor:
    """``net(x)`` with ``x`` reflect-padded to the network's window multiple and the output cropped back."""
    padded, h, w = pad_to_multiple(x, window_multiple(net))
    return net(padded)[..., :h, :w]


def run_network(net: nn.Module, x: Tensor, tile: TileSpec | None = None) -> Tensor:
    """``net`` on whole images ``x``, tiled when ``tile`` is given: wrappers normalize with whole-image statistics."""
    if tile is None:
        return padded_forward(net, x)
    if isinstance(net, NormalizingNetwork):
        z, stats = net.normalize(x)
        return net.denormalize(tiled_apply(net.run_backbone, z, tile), x, stats)
    return tiled_apply(lambda patch: padded_forward(net, patch), x, tile)


@contextmanager
def eval_mode(net: nn.Module) -> Iterator[nn.Module]:
    """Put ``net`` in eval mode for the block and restore its training flag afterwards."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


def whole_image_forward(net: nn.Module, x: Tensor) -> Tensor:
    """``net`` on whole images without gradients, reflect-padded to its window multiple and cropped back (§1.5)."""
    with torch.no_grad():
        return padded_forward(net, x)
