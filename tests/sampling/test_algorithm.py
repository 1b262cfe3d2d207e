"""The iterative sampler (docs/method.md §6): stop rules, data consistency, seeding, recovery under a Gaussian prior."""
import math

import pytest
import torch

import wne_basicsr  # noqa: F401
from wne_basicsr.sampling.algorithm import SamplerConfig, noise_factor, run_sampler, step_size
from wne_basicsr.sampling.inverse_problems import build_projector

SIZE = 16
N = SIZE * SIZE
MEAN, STD, LENGTH, NUGGET = 0.5, 0.15, 2.0, 1e-4


class GaussianPriorDenoiser:
    """Exact MMSE denoiser of the prior N(m, C), blind: it estimates σ² from its input, as the paper's models must.

    D(y) = m + C (C + σ² I)⁻¹ (y − m) = m + V diag(λ/(λ + σ²)) Vᵀ (y − m). The sampler never tells its denoiser σ, so
    σ² is estimated the way a blind denoiser can: in the half of the eigenbasis where the prior has (almost) no energy,
    the coefficients of y − m are pure noise, so σ̂² = mean(c_k²) − mean(λ_k) over k in that half.
    """

    def __init__(self) -> None:
        yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing='ij')
        pos = torch.stack([yy.flatten(), xx.flatten()], 1).double()
        self.cov = STD ** 2 * torch.exp(-torch.cdist(pos, pos).square() / (2 * LENGTH ** 2))
        self.cov += NUGGET * torch.eye(N, dtype=torch.float64)
        self.lam, self.basis = torch.linalg.eigh(self.cov)
        self.calls = 0

    def sample(self, count: int, seed: int = 0) -> torch.Tensor:
        """``count`` images x★ ~ N(m, C), shaped count×1×16×16."""
        z = torch.randn(N, count, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        return (MEAN + (torch.linalg.cholesky(self.cov) @ z).T).reshape(count, 1, SIZE, SIZE).float()

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        coeffs = (y.double().reshape(len(y), N) - MEAN) @ self.basis
        sigma2 = (coeffs[:, :N // 2].square().mean(1) - self.lam[:N // 2].mean()).clamp_min(0)
        shrunk = self.lam / (self.lam + sigma2[:, None]) * coeffs
        return (MEAN + shrunk @ self.basis.T).reshape(y.shape).float()


@pytest.fixture(scope='module')
def prior():
    return GaussianPriorDenoiser()


def config(denoising: bool = False, **opt) -> SamplerConfig:
    return SamplerConfig.from_opt(opt, denoising)


def test_schedule_and_defaults():
    assert step_size(1, 0.01) == pytest.approx(0.01) and step_size(101, 0.01) == pytest.approx(1.01 / 2)
    assert step_size(1000, 0.01, h_max=0.2) == 0.2
    assert noise_factor(0.3, 1.0) == 0 and noise_factor(0.01, 0.01) == pytest.approx(math.sqrt(0.9999 ** 2 - 0.99 ** 2))
    inverse, denoising = config(), config(denoising=True)
    assert (inverse.sigma_init, inverse.sigma_stop, inverse.beta) == (1.0, pytest.approx(0.01), 0.01)
    assert (denoising.sigma_init * 255, denoising.sigma_stop * 255, denoising.beta) == (pytest.approx(10), 1, 1)
    assert (inverse.h0, inverse.max_steps, inverse.fill, inverse.end_rule) == (0.01, 1000, 0.5, 'project')
    for bad in ({'max_steps': None}, {'max_steps': 0}, {'end_rule': 'stop'}, {'beta': 2}, {'h0': 0},
                {'diverge_factor': 1}):
        with pytest.raises(ValueError, match='sampler.'):
            config(**bad)


def test_max_steps_caps_a_sampler_whose_sigma_never_falls():
    clean = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    [record] = run_sampler(lambda y: y + 0.1, clean, build_projector('denoising', (SIZE, SIZE)),
                           config(denoising=True, max_steps=7), [0])
    assert record.metrics['stop_reason'] == 'max_steps' and record.metrics['final_step'] == 7
    assert [row['step'] for row in record.trajectory] == list(range(8))
    assert [row['sigma_hat'] for row in record.trajectory[1:]] == pytest.approx([0.1] * 7)  # ‖u‖/√N = 0.1
    shift = 0.1 * sum(step_size(t, 0.01) for t in range(1, 8))  # β = 1: no noise injected, y moves by h_t·0.1
    assert torch.allclose(record.final - record.observed, torch.full_like(record.final, shift), atol=1e-6)


def test_oracle_denoiser_stops_at_sigma_stop_after_the_predicted_step():
    clean = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    cfg = config(denoising=True, sigma_init=50, sigma_stop=5)  # β = 1: γ = 0, so σ̂_t = σ̂_1·∏_{s<t}(1 − h_s)
    [record] = run_sampler(lambda y: clean.expand_as(y), clean, build_projector('denoising', (SIZE, SIZE)), cfg, [0])
    sigma, t = record.trajectory[1]['sigma_hat'], 1
    while sigma > cfg.sigma_stop:
        sigma *= 1 - step_size(t, cfg.h0)
        t += 1
    assert record.metrics['stop_reason'] == 'sigma_stop' and record.metrics['final_step'] == t - 1
    assert record.metrics['final_sigma_8bit'] == pytest.approx(255 * sigma, rel=1e-4)
    assert record.metrics['observed_psnr'] == pytest.approx(-10 * math.log10((50 / 255) ** 2), abs=0.6)
    assert record.metrics['one_pass_psnr'] == 100  # the oracle's one pass is exact (MSE floored at 1e-10)


class ScriptedDenoiser:
    """D(y) = y + s_k on rows of non-negative mean (k counts calls), so σ̂_t = s_{t−1} exactly; other rows get +0.1."""

    def __init__(self, script: list[float]) -> None:
        self.script, self.calls = script, 0

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        s = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        scripted = (y.flatten(1).mean(1) >= 0).view(-1, 1, 1, 1)
        return y + torch.where(scripted, s, 0.1)


SCRIPT = [0.5, 0.3, 0.2, 0.35, 0.79, 0.81, 1.0]  # σ̂_1..σ̂_7: lowest at t = 3 (state y_2); 0.81 > 4·0.2 > 0.79


@pytest.mark.parametrize('factor, detected_at', [(None, 6), (2.0, 5)])
def test_a_rising_sigma_stops_as_diverged_and_returns_the_least_noisy_state(factor, detected_at):
    clean = torch.cat([torch.full((1, 1, SIZE, SIZE), 0.5), -torch.ones(1, 1, SIZE, SIZE)])  # row 1: +0.1 a step
    opt = {'sigma_init': 1, 'h0': 1.0, 'max_steps': 9} | ({} if factor is None else {'diverge_factor': factor})
    cfg = config(denoising=True, **opt)  # h_t = 1 and β = 1: y_t = y_{t−1} + s_t exactly
    assert cfg.diverge_factor == (factor or 4.0)
    diverged, steady = run_sampler(ScriptedDenoiser(SCRIPT), clean, build_projector('denoising', (SIZE, SIZE)), cfg,
                                   [0, 1])
    assert diverged.metrics['stop_reason'] == 'diverged' and diverged.metrics['final_step'] == 2
    assert diverged.metrics['final_sigma_8bit'] == pytest.approx(255 * 0.2)
    assert torch.allclose(diverged.final, diverged.observed + 0.5 + 0.3, atol=1e-6)  # y_2, not the diverging y_5
    assert diverged.metrics['final_psnr'] == pytest.approx(diverged.trajectory[2]['psnr'])
    assert [row['step'] for row in diverged.trajectory] == list(range(detected_at))  # detected before the update
    assert steady.metrics['stop_reason'] == 'max_steps' and steady.metrics['final_step'] == 9
    assert torch.allclose(steady.final, steady.observed + 0.9, atol=1e-5)


def test_a_non_finite_sigma_stops_as_diverged_instead_of_raising():
    clean = torch.full((1, 1, SIZE, SIZE), 0.5)
    cfg = config(denoising=True, sigma_init=1, h0=1.0, diverge_factor=1e30)
    [record] = run_sampler(ScriptedDenoiser([0.5, 0.3, math.inf]), clean, build_projector('denoising', (SIZE, SIZE)),
                           cfg, [0])
    assert record.metrics['stop_reason'] == 'diverged' and record.metrics['final_step'] == 1  # σ̂_2 = 0.3 measures y_1
    assert torch.isfinite(record.final).all() and torch.allclose(record.final, record.observed + 0.5, atol=1e-6)


@pytest.mark.parametrize('problem', ['inpaint_center', 'random_missing', 'block_superres', 'fourier_lowpass'])
def test_project_rule_agrees_with_the_measurements(prior, problem):
    clean = prior.sample(2, seed=1)
    projector = build_projector(problem, (SIZE, SIZE), [0, 1])
    records = run_sampler(prior, clean, projector, config(max_steps=30), [0, 1])
    final = torch.stack([r.final for r in records])
    assert torch.allclose(projector(final), projector.measure(clean), atol=1e-5)  # P x̂ = P x★
    assert all(r.metrics['data_rmse'] < 1e-5 and r.trajectory[-1]['data_rmse'] < 1e-5 for r in records)
    denoised = run_sampler(prior, clean, projector, config(max_steps=30, end_rule='denoise'), [0, 1])
    assert not torch.allclose(projector(torch.stack([r.final for r in denoised])), projector.measure(clean), atol=1e-4)


def test_same_seed_same_output_and_batching_does_not_change_it(prior):
    clean = prior.sample(2, seed=2)
    projector = build_projector('random_missing', (SIZE, SIZE), [3, 4])
    first = run_sampler(prior, clean, projector, config(max_steps=40), [3, 4])
    again = run_sampler(prior, clean, projector, config(max_steps=40), [3, 4])
    alone = run_sampler(prior, clean[1:], build_projector('random_missing', (SIZE, SIZE), [4]), config(max_steps=40),
                        [4])
    other = run_sampler(prior, clean, projector, config(max_steps=40, seed=1), [3, 4])
    assert all(torch.equal(a.final, b.final) for a, b in zip(first, again))
    assert torch.allclose(first[1].final, alone[0].final, atol=1e-5)
    assert not torch.allclose(first[0].final, other[0].final, atol=1e-3)


def test_random_missing_recovery_under_a_gaussian_prior_beats_the_observation(prior):
    """With the exact MMSE denoiser the sampler draws (approximately) from the posterior p(x★ | P x★).

    Margin. Let M be the missing pixels (about (1 − p)·N, p = 0.1). The observation x_c is 0 on M, so
    E‖x_c − x★‖² = Σ_M (m² + C_ii) = |M|·(m² + s²) with s² = STD² + NUGGET. A posterior sample x̃ and x★ are independent
    draws from the same posterior, so E‖x̃ − x★‖² = 2·tr Σ_post ≤ 2·|M|·s² (conditioning never raises a variance).
    Hence the expected PSNR gain is at least 10·log10((m² + s²)/(2 s²)) = 7.8 dB for m = 0.5, STD = 0.15, whatever
    the mask. We ask for that bound less 1 dB (4 images, a sampler stopped at σ 0.01 with β = 0.01), pooled over the
    images, and check the exact posterior figure too: within 2 dB of 2·tr Σ_post, and not beyond the posterior mean.
    """
    clean = prior.sample(4, seed=0)
    indices = [0, 1, 2, 3]
    projector = build_projector({'type': 'random_missing', 'keep_fraction': 0.1}, (SIZE, SIZE), indices)
    records = run_sampler(prior, clean, projector, config(), indices)
    assert all(r.metrics['stop_reason'] == 'sigma_stop' for r in records)

    def pooled_psnr(estimates: list[torch.Tensor]) -> float:
        return -10 * math.log10(float(sum((e - c).square().mean() for e, c in zip(estimates, clean)) / len(clean)))

    observed, final = pooled_psnr([r.observed for r in records]), pooled_psnr([r.final for r in records])
    s2 = STD ** 2 + NUGGET
    assert final - observed >= 10 * math.log10((MEAN ** 2 + s2) / (2 * s2)) - 1.0
    sample_mse, mean_mse = 0.0, 0.0
    for image, mask in zip(clean, projector.mask):
        kept, missing = mask.flatten().bool(), ~mask.flatten().bool()
        cov, x = prior.cov, image.double().flatten()
        gain = cov[missing][:, kept] @ torch.linalg.inv(cov[kept][:, kept])
        sample_mse += 2 * float((cov[missing][:, missing] - gain @ cov[kept][:, missing]).trace()) / N / len(clean)
        mean_mse += float((MEAN + gain @ (x[kept] - MEAN) - x[missing]).square().sum()) / N / len(clean)
    assert abs(final + 10 * math.log10(sample_mse)) < 2.0
    assert final < -10 * math.log10(mean_mse) + 1.0
