"""The README's "Use WNE in your own code" snippet runs as written, and its model is exactly NE; its SwinIR tables
(validation, its fp32 check, sweep, sampler) are the committed CSVs."""
import csv
import os
import re
import subprocess
import sys

from wne_basicsr.evaluation.tables import (
    mismatch_table,
    read_mismatch_csv,
    read_sampler_csv,
    sampler_image_table,
    sampler_table,
)
from wne_basicsr.evaluation.training_curves import validation_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'docs', 'results')


def read(path: str) -> str:
    """The text of a file of the repository."""
    with open(os.path.join(REPO, path), encoding='utf-8') as f:
        return f.read()


def readme_snippet(heading: str) -> str:
    """The first Python code block after ``heading`` in README.md."""
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    section = text[text.index(heading):]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def test_own_code_snippet_trains_and_prints_a_round_off_ne_defect(tmp_path):
    (tmp_path / 'snippet.py').write_text(readme_snippet('## Use WNE in your own code'))
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    result = subprocess.run([sys.executable, 'snippet.py'], cwd=tmp_path, env={**env, 'PYTHONWARNINGS': 'ignore'},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loss, defect = re.fullmatch(r'loss ([\d.]+), NE defect ([\d.e+-]+)\n', result.stdout).groups()
    assert float(defect) <= 1e-6 and 0 < float(loss) < 0.05


def read_curves(folder: str) -> list[dict]:
    """The rows of ``docs/results/repro_cpu_swinir/<folder>/training_curves.csv``, step and value as numbers."""
    with open(os.path.join(RESULTS, 'repro_cpu_swinir', folder, 'training_curves.csv'), newline='') as f:
        return [{**r, 'step': int(r['step']), 'value': float(r['value'])} for r in csv.DictReader(f)]


def test_swinir_validation_table_is_the_committed_training_curves():
    rows = read_curves('recipe_1600')
    assert {r['run'] for r in rows} == {'SwinIR', 'WNE-SwinIR'}
    readme = read('README.md')
    assert validation_table(rows) in readme
    assert 'docs/results/repro_cpu_swinir/recipe_1600/training_curves.png' in readme


def test_swinir_fp32_table_is_the_committed_bf16_and_fp32_curves():
    fp32 = read_curves('fp32_baseline')
    assert {r['run'] for r in fp32} == {'SwinIR-fp32'}
    rows = [r for r in read_curves('recipe_1600') if r['run'] == 'SwinIR'] + fp32
    assert validation_table(rows) in read('docs/results/repro_cpu_swinir/README.md')
    assert os.path.isfile(os.path.join(RESULTS, 'repro_cpu_swinir', 'fp32_baseline', 'training_curves.png'))


def test_swinir_sweep_table_is_the_committed_mismatch_csv():
    rows = read_mismatch_csv(os.path.join(RESULTS, 'repro_cpu_swinir', 'mismatch.csv'))
    assert {r['model'] for r in rows} == {'SwinIR', 'WNE-SwinIR'}
    table = mismatch_table(rows, [5, 10, 24.195, 50, 53.223, 100], datasets=['Set12'])
    readme = read('README.md')
    assert table in readme
    for plot in ('psnr_vs_input', 'ssim_vs_sigma', 'ne_defect_vs_sigma'):
        assert os.path.isfile(os.path.join(RESULTS, 'repro_cpu_swinir', f'{plot}.png'))
    assert 'docs/results/repro_cpu_swinir/psnr_vs_input.png' in readme


def swinir_sampler_runs() -> dict[str, list[dict]]:
    """The committed per-image sampler CSVs of the two SwinIR-lite priors, by label."""
    return {label: read_sampler_csv(os.path.join(RESULTS, 'sampler_swinir', f'{label}_per_image.csv'))
            for label in ('SwinIR', 'WNE-SwinIR')}


def test_swinir_sampler_tables_are_the_committed_per_image_csvs():
    runs = swinir_sampler_runs()
    assert sampler_table(runs) in read('README.md')
    assert sampler_image_table(runs) in read('docs/results/sampler_swinir/README.md')
    for label in runs:
        assert os.path.isfile(os.path.join(RESULTS, 'sampler_swinir', f'{label}_01_trajectory.png'))


def test_swinir_sampler_csvs_hold_the_readme_claims():
    """Whole 256×256 images 01-07, and WNE's final PSNR above the baseline's on each, as the README says."""
    base, wne = swinir_sampler_runs().values()
    assert [row['image'] for row in base] == [row['image'] for row in wne] == [f'{i:02d}' for i in range(1, 8)]
    assert all((row['height'], row['width']) == (256, 256) for row in base + wne)
    assert all(w['final_psnr'] > b['final_psnr'] for b, w in zip(base, wne))
    assert {row['stop_reason'] for row in base} == {'sigma_stop'}
