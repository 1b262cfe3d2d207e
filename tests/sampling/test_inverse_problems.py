"""Measurement operators of the sampler: each is an orthogonal projector with the §6 geometry and seeding."""
import pytest
import torch

from wne_basicsr.sampling.inverse_problems import (
    DeblurProjector,
    build_projector,
    center_hole_mask,
    lowpass_mask,
    random_keep_mask,
)

PROBLEMS = [
    {'type': 'denoising'},
    {'type': 'inpaint_center'},
    {'type': 'random_missing', 'keep_fraction': 0.3},
    {'type': 'block_superres', 'factor': 4},
    {'type': 'fourier_lowpass', 'fraction': 0.1},
    {'type': 'deblur', 'blur_sigma': 1.5},
]


@pytest.mark.parametrize('problem', PROBLEMS, ids=lambda p: p['type'])
def test_operator_is_an_orthogonal_projector(problem):
    projector = build_projector(problem, (16, 12), indices=[0, 5], seed=3)
    gen = torch.Generator().manual_seed(0)
    v, w = (torch.randn(2, 3, 16, 12, generator=gen, dtype=torch.float64) for _ in range(2))
    pv = projector(v)
    assert torch.allclose(projector(pv), pv, atol=1e-10)  # P² = P
    assert torch.allclose((pv * w).sum(), (v * projector(w)).sum(), atol=1e-9)  # ⟨Pv, w⟩ = ⟨v, Pw⟩
    assert torch.allclose(projector.complement(v) + pv, v)
    clean = torch.rand(2, 3, 16, 12, generator=gen)
    assert torch.allclose(projector.measure(clean), projector(clean), atol=1e-5)  # x_c = P·x★


def test_projector_ranks_match_the_problem():
    v = torch.eye(256, dtype=torch.float64).view(256, 1, 16, 16)  # the standard basis: trace(P) = rank
    rank = {p['type']: float(build_projector(p, (16, 16))(v).flatten(1).diagonal().sum()) for p in PROBLEMS}
    assert rank['denoising'] == 0
    assert rank['inpaint_center'] == 256 - 4 * 4
    assert rank['block_superres'] == pytest.approx(16)
    assert rank['fourier_lowpass'] == pytest.approx(int(lowpass_mask(16, 16, 0.1).sum()))


def test_masks_follow_the_spec():
    hole = center_hole_mask(10, 12, 0.25)[0, 0]  # round(2.5) = 2 rows, 3 columns, top (10-2)//2, left (12-3)//2
    assert (hole == 0).nonzero().tolist() == [[r, c] for r in (4, 5) for c in (4, 5, 6)]
    keep = random_keep_mask(64, 64, 0.1, seed=0, image_index=2)
    gen = torch.Generator().manual_seed(0 + 1_000_003 * 3)
    assert torch.equal(keep, (torch.rand(1, 1, 64, 64, generator=gen) < 0.1).float())
    assert not torch.equal(keep, random_keep_mask(64, 64, 0.1, seed=0, image_index=1))
    projector = build_projector({'type': 'random_missing'}, (64, 64), indices=[1, 2])
    assert torch.equal(projector.mask[1], keep[0]) and projector.mask.shape == (2, 1, 64, 64)
    mask = lowpass_mask(16, 10, 0.05)  # k = round(8) = 8 lowest |f|², ties included; conjugate-symmetric
    assert mask.sum() >= 8 and mask[0, 0] == 1
    assert torch.equal(mask, torch.roll(mask.flip(0, 1), shifts=(1, 1), dims=(0, 1)))


def test_deblur_measurement_inverts_the_blur_on_kept_frequencies():
    projector = build_projector({'type': 'deblur', 'blur_sigma': 1.0}, (16, 16))
    assert isinstance(projector, DeblurProjector)
    clean = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    blurred = projector.blur(clean)
    assert not torch.allclose(blurred, clean, atol=1e-2) and torch.allclose(blurred.mean(), clean.mean())
    assert torch.allclose(projector.measure(clean), projector(clean), atol=1e-5)


def test_bad_options_raise_clear_errors():
    with pytest.raises(ValueError, match='not divisible by factor 4'):
        build_projector({'type': 'block_superres', 'factor': 4}, (18, 16))(torch.zeros(1, 1, 18, 16))
    with pytest.raises(ValueError, match='type among'):
        build_projector({'type': 'painting'}, (8, 8))
    with pytest.raises(ValueError, match=r"unknown keys \['keep'\]"):
        build_projector({'type': 'random_missing', 'keep': 0.1}, (8, 8))
    with pytest.raises(ValueError, match=r'keep_fraction must be a number in \(0, 1\]'):
        build_projector({'type': 'random_missing', 'keep_fraction': 10}, (8, 8))
