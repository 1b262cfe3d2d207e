"""WNE, WNEInput and ScaleEquivariant: wrappers that make any registered backbone (normalization/scale) equivariant.

The wrapper normalizes each instance by its global statistics (float32, even under autocast), runs the backbone on the
normalized image (reflect-padded to the backbone's window multiple), and maps the result back (docs/method.md §1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn

from wne_basicsr.errors import OptionError
from wne_basicsr.registry_errors import check_arch_options

PRED_MODES = ('direct', 'residual')
STD_MODES = ('unbiased', 'population')


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, int, int]:
    """Pad ``x`` on the right and bottom to a multiple of ``multiple`` (reflect, else replicate); return it and H, W."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, h, w
    mode = 'reflect' if ph < h and pw < w else 'replicate'
    return F.pad(x, (0, pw, 0, ph), mode=mode), h, w


def window_multiple(net: nn.Module) -> int:
    """The spatial multiple to pad a network's input to: its largest integer ``window_size`` (Swin blocks), else 1.

    Networks that pad internally (the wrappers here, Restormer) set ``pads_internally`` and need none.
    """
    if getattr(net, 'pads_internally', False):
        return 1
    sizes = [m.window_size for m in net.modules() if isinstance(getattr(m, 'window_size', None), int)]
    return max(sizes, default=1)


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype of the wrappers' statistics and de-normalization: float32, or float64 for float64 inputs."""
    return torch.promote_types(x.dtype, torch.float32)


def instance_stats(x: Tensor, std_mode: str = 'unbiased') -> tuple[Tensor, Tensor]:
    """Per-instance mean and std over C·H·W in float32 (float64 for float64 input), shaped B×1×1×1 (std = 0 for
    constant instances)."""
    flat = x.to(compute_dtype(x)).flatten(1)
    mean = flat.mean(dim=1)
    if flat.shape[1] > 1:
        std = flat.std(dim=1, correction=1 if std_mode == 'unbiased' else 0)
        # Round-off gives a constant input a tiny non-zero std; its true std is exactly zero.
        std = torch.where(flat.amax(dim=1) > flat.amin(dim=1), std, torch.zeros_like(std))
    else:
        std = torch.zeros_like(mean)
    return mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)


def _divisor(s: Tensor) -> Tensor:
    """``s`` with zeros replaced by one (constant inputs normalize to z = 0, no eps)."""
    return torch.where(s > 0, s, torch.ones_like(s))


class _NormalizingWrapper(nn.Module):
    """Shared construction, validation and padded backbone call of the wrappers.

    ``forward`` is ``denormalize(run_backbone(z), x, stats)`` with ``z, stats = normalize(x)``; tiled inference
    (``wne_basicsr.inference.forward``) runs the same three steps with the backbone tiled over z.
    """

    pads_internally = True  # statistics come from the unpadded input, so nobody may pad it outside

    def __init__(self, backbone: dict | nn.Module | None = None, pred_mode: str = 'direct',
                 std_mode: str = 'unbiased', pad_multiple: int | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if backbone is None:
            raise OptionError(f'{name}: option network_g.backbone is missing: give the options of the network to wrap, '
                              'e.g. backbone: {type: DnCNN, num_in_ch: 1} (any registered arch; in Python, an '
                              'nn.Module)')
        if not isinstance(backbone, nn.Module) and (not isinstance(backbone, dict) or 'type' not in backbone):
            raise OptionError(f'{name}: network_g.backbone must be an options dict with a "type" key (any registered '
                              f'arch, e.g. {{type: DnCNN, num_in_ch: 1}}) or an nn.Module, got {backbone!r}')
        if pred_mode not in PRED_MODES:
            raise OptionError(f'{name}: pred_mode must be one of {PRED_MODES}, got {pred_mode!r}')
        if std_mode not in STD_MODES:
            raise OptionError(f'{name}: std_mode must be one of {STD_MODES}, got {std_mode!r}')
        if not isinstance(backbone, nn.Module):
            check_arch_options(backbone, 'network_g.backbone')  # a misspelled argument: one line, not a TypeError
        self.backbone = backbone if isinstance(backbone, nn.Module) else build_network(dict(backbone))
        self.pred_mode = pred_mode
        self.std_mode = std_mode
        self.pad_multiple = int(pad_multiple) if pad_multiple else window_multiple(self.backbone)

    def run_backbone(self, z: Tensor) -> Tensor:
        """Backbone on normalized ``z`` (padded to the window multiple and cropped back), returned in ``z``'s dtype."""
        padded, h, w = pad_to_multiple(z, self.pad_multiple)
        return self.backbone(padded)[..., :h, :w].to(z.dtype)

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The backbone's input z = (x − μ)/s for whole images ``x`` and the statistics (μ, s), in float32 (float64
        for float64 input)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(compute_dtype(x))
            mean, std = instance_stats(xf, self.std_mode)
            return (xf - mean) / _divisor(std), (mean, std)

    def denormalize(self, g: Tensor, x: Tensor, stats: tuple[Tensor, ...]) -> Tensor:
        """Map the backbone output ``g`` (for all of ``z``) back to the output for ``x``, in ``x``'s dtype."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        z, stats = self.normalize(x)
        return self.denormalize(self.run_backbone(z), x, stats)

    def extra_repr(self) -> str:
        return f'pred_mode={self.pred_mode}, std_mode={self.std_mode}, pad_multiple={self.pad_multiple}'


@ARCH_REGISTRY.register()
class WNE(_NormalizingWrapper):
    """Exactly normalization-equivariant wrapper: f(x) = s·g((x−μ)/s) + μ (direct) or x − s·g((x−μ)/s) (residual)."""

    def denormalize(self, g: Tensor, x: Tensor, stats: tuple[Tensor, ...]) -> Tensor:
        mean, std = stats
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(compute_dtype(x))
            out = std * g + mean if self.pred_mode == 'direct' else xf - std * g
            return torch.where(std > 0, out, xf).to(x.dtype)


@ARCH_REGISTRY.register()
class WNEInput(_NormalizingWrapper):
    """Input-only normalization (the paper's WNE-I ablation): g((x−μ)/s) or x − g((x−μ)/s); G-invariant."""

    def denormalize(self, g: Tensor, x: Tensor, stats: tuple[Tensor, ...]) -> Tensor:
        return (g if self.pred_mode == 'direct' else x.to(compute_dtype(x)) - g).to(x.dtype)


@ARCH_REGISTRY.register()
class ScaleEquivariant(_NormalizingWrapper):
    """Exactly scale-equivariant wrapper with the uncentred RMS s: s·g(x/s) (direct) or x − s·g(x/s) (residual).

    s = √(Σx² / d) with ``std_mode: population`` (the default here), √(Σx² / (d − 1)) with ``unbiased``.
    """

    def __init__(self, backbone: dict | nn.Module | None = None, pred_mode: str = 'direct',
                 std_mode: str = 'population', pad_multiple: int | None = None) -> None:
        super().__init__(backbone, pred_mode, std_mode, pad_multiple)

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(compute_dtype(x))
            mean_square, d = xf.flatten(1).square().mean(dim=1), xf[0].numel()
            if self.std_mode == 'unbiased' and d > 1:
                mean_square = mean_square * (d / (d - 1))
            rms = mean_square.sqrt().view(-1, 1, 1, 1)
            return xf / _divisor(rms), (rms,)

    def denormalize(self, g: Tensor, x: Tensor, stats: tuple[Tensor, ...]) -> Tensor:
        (rms,) = stats
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.to(compute_dtype(x))
            out = rms * g if self.pred_mode == 'direct' else xf - rms * g
            return torch.where(rms > 0, out, xf).to(x.dtype)
