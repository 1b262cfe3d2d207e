"""Tiled inference: stitching, agreement with whole-image inference, exact equivariance, the model's tile option."""
import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.models import build_model

from wne_basicsr import WNE
from wne_basicsr.inference.forward import TileSpec, run_network, tile_starts, tiled_apply

SMALL_DNCNN = {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 6}  # receptive-field radius 6 ≤ overlap / 2


def relative_defect(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float(((out - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)).max())


@pytest.mark.parametrize('length, size, overlap', [(100, 40, 16), (40, 40, 8), (25, 40, 8), (97, 32, 0), (33, 32, 31)])
def test_tiles_cover_the_image_with_the_overlap(length, size, overlap):
    starts = tile_starts(length, size, overlap)
    assert starts[0] == 0 and starts[-1] + min(size, length) == length
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))
    x = torch.arange(2 * 3 * length * 29, dtype=torch.float32).view(2, 3, length, 29)
    assert torch.equal(tiled_apply(lambda t: t * 2, x, TileSpec(size, overlap)), x * 2)


@pytest.mark.parametrize('network', [SMALL_DNCNN, {'type': 'WNE', 'backbone': SMALL_DNCNN},
                                     {'type': 'WNE', 'pred_mode': 'residual', 'backbone': SMALL_DNCNN},
                                     {'type': 'WNEInput', 'backbone': SMALL_DNCNN},
                                     {'type': 'ScaleEquivariant', 'backbone': SMALL_DNCNN}],
                         ids=['bare', 'WNE', 'WNE-residual', 'WNEInput', 'SE'])
def test_tiled_equals_untiled_when_the_receptive_field_fits_the_overlap(network):
    torch.manual_seed(0)
    net = build_network(dict(network)).eval()
    x = torch.rand(2, 1, 83, 70)
    with torch.no_grad():
        whole = run_network(net, x)
        tiled = run_network(net, x, TileSpec(32, 16))
    assert (tiled - whole).abs().max() < 1e-5


@pytest.mark.parametrize('pad_multiple', [None, 8])
def test_tiled_wne_is_exactly_normalization_equivariant(pad_multiple):
    torch.manual_seed(1)
    backbone = {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 8}  # receptive field wider than the overlap
    net = build_network({'type': 'WNE', 'backbone': backbone, 'pad_multiple': pad_multiple}).eval()
    x = torch.rand(1, 1, 45, 52)
    tile = TileSpec(22, 6)  # tiles padded to the window multiple by run_backbone
    with torch.no_grad():
        y = run_network(net, x, tile)
        for a, b in [(0.2, -2.0), (5.0, 2.0), (1.7, 0.3)]:
            assert relative_defect(run_network(net, a * x + b, tile), a * y + b) <= 1e-5


def test_a_wrapper_around_a_plain_module_tiles_and_pads_the_same_way():
    """The Python API: WNE(nn.Module) tiles like a wrapper built from options (equal to its untiled output), and with
    a window multiple the tiled network stays exactly NE."""
    torch.manual_seed(2)
    conv = torch.nn.Conv2d
    backbone = torch.nn.Sequential(conv(1, 8, 3, padding=1), torch.nn.ReLU(), conv(8, 1, 3, padding=1))
    x, tile = torch.rand(1, 1, 45, 52), TileSpec(24, 12)
    with torch.no_grad():
        net = WNE(backbone).eval()
        assert (run_network(net, x, tile) - run_network(net, x)).abs().max() < 1e-5
        padded = WNE(backbone, pad_multiple=8).eval()
        y = run_network(padded, x, tile)
        assert relative_defect(run_network(padded, 1.7 * x + 0.3, tile), 1.7 * y + 0.3) <= 1e-5


def test_per_tile_statistics_would_break_equivariance():
    """Control: tiling the whole wrapper (statistics per tile) changes the output; run_network does not do that."""
    torch.manual_seed(2)
    net = build_network({'type': 'WNE', 'backbone': {'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 4}}).eval()
    x = torch.rand(1, 1, 64, 64)
    x[..., :32] *= 0.2  # tiles with very different statistics
    with torch.no_grad():
        per_tile = tiled_apply(net, x, TileSpec(32, 16))
        assert (per_tile - net(x)).abs().max() > 1e-3
        assert (run_network(net, x, TileSpec(32, 16)) - net(x)).abs().max() < 1e-5


@pytest.mark.parametrize('value, message', [
    ({'size': 0}, 'tile.size'), ({'size': 32, 'overlap': 32}, 'tile.overlap'), ({'size': '256'}, 'tile.size'),
    ({'tile_size': 256}, 'option tile'), (256, 'option tile'),
])
def test_bad_tile_options_name_the_option(value, message):
    with pytest.raises(ValueError, match=message):
        TileSpec.from_opt(value)


def test_model_test_step_tiles_with_the_tile_option(tmp_path):
    opt = {'name': 'tiles', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': False,
           'dist': False, 'rank': 0, 'world_size': 1, 'datasets': {},
           'network_g': {'type': 'WNE', 'backbone': SMALL_DNCNN}, 'path': {'pretrain_network_g': None}}
    torch.manual_seed(3)
    model = build_model(opt)
    x = torch.rand(1, 1, 70, 50)
    whole = model.denoise(x)
    model.opt['tile'] = {'size': 32, 'overlap': 16}
    calls = []
    backbone = model.inference_network().backbone
    handle = backbone.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape))
    model.feed_data({'lq': x})
    model.test()
    handle.remove()
    assert len(calls) == len(tile_starts(70, 32, 16)) * len(tile_starts(50, 32, 16))
    assert all(shape[-2:] == (32, 32) for shape in calls)
    assert (model.output - whole).abs().max() < 1e-5
