"""Sampler summaries: means, sample std and stop counts, and the warning for images that did not reach σ_stop."""
import pytest

from wne_basicsr.sampling.summary import stop_advice, summarize


def row(reason: str, sigma: float, psnr: float) -> dict:
    return {'image': 'x', 'index': 0, 'final_psnr': psnr, 'final_sigma_8bit': sigma, 'stop_reason': reason}


def test_summary_means_sample_std_and_stop_counts():
    summary = summarize([row('sigma_stop', 2.5, 20.0), row('diverged', 3.0, 22.0), row('diverged', 4.0, 24.0)])
    assert summary['count'] == 3 and summary['stop_reasons'] == {'sigma_stop': 1, 'diverged': 2}
    assert summary['mean']['final_psnr'] == 22.0 and summary['std']['final_psnr'] == pytest.approx(2.0)  # n − 1
    assert 'index' not in summary['mean']


def test_no_advice_when_every_image_reached_sigma_stop():
    assert stop_advice([row('sigma_stop', 2.5, 20.0)] * 2, 2.55) is None


def test_advice_names_the_images_their_final_sigma_the_check_and_the_fixes():
    advice = stop_advice([row('sigma_stop', 2.5, 20.0), row('diverged', 3.28, 12.0), row('max_steps', 11.3, 7.0),
                          row('diverged', 3.99, 13.0)], 2.55)
    assert advice.startswith('3 of 4 images did not reach sigma_stop 2.55 (2 diverged, 1 max_steps; final '
                             'sigma-hat 3.28-11.3, 8-bit)')
    assert 'scripts/mismatch_curve.py --sigmas 2.55' in advice and 'raise sigma_stop' in advice
