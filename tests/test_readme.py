"""The README's "Use WNE in your own code" snippet is seeded first, runs as written and prints what the README shows
(its model exactly NE); the SwinIR tables of docs/results.md (validation, its fp32 check, sweep, sampler) are the
committed CSVs."""
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
RESULTS_PAGE = 'docs/results.md'  # the page with the tables; its image links are relative to docs/


def read(path: str) -> str:
    """The text of a file of the repository."""
    with open(os.path.join(REPO, path), encoding='utf-8') as f:
        return f.read()


def readme_snippet(heading: str) -> tuple[str, str]:
    """The first Python code block after ``heading`` in README.md, and the text block that follows it (its output)."""
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    section = text[text.index(heading):]
    match = re.search(r'```python\n(.*?)```.*?```text\n(.*?)```', section, re.S)
    return match.group(1), match.group(2)


OUTPUT = re.compile(r'loss ([\d.]+)\nNE defect ([\d.e+-]+)\n')


def test_own_code_snippet_is_seeded_before_the_model_is_built():
    code, _ = readme_snippet('## Use WNE in your own code')
    seed = code.index('torch.manual_seed(')
    assert seed < code.index('nn.Sequential(') and seed < code.index('WNE(backbone')


def test_own_code_snippet_trains_and_prints_what_the_readme_shows(tmp_path):
    code, shown = readme_snippet('## Use WNE in your own code')
    (tmp_path / 'snippet.py').write_text(code)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    result = subprocess.run([sys.executable, 'snippet.py'], cwd=tmp_path, env={**env, 'PYTHONWARNINGS': 'ignore'},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loss, defect = OUTPUT.fullmatch(result.stdout).groups()
    assert float(defect) <= 1e-6 and 0 < float(loss) < 0.05
    shown_loss, shown_defect = OUTPUT.fullmatch(shown).groups()
    # the seeded loss is printed to 4 decimals, as shown; the defect is round-off, whose digits depend on the CPU
    assert loss == shown_loss, f'the README shows loss {shown_loss}, the snippet printed {loss}'
    assert float(shown_defect) <= 1e-6


def read_curves(folder: str, parent: str = 'repro_cpu_swinir') -> list[dict]:
    """The rows of ``docs/results/<parent>/<folder>/training_curves.csv``, step and value as numbers."""
    with open(os.path.join(RESULTS, parent, folder, 'training_curves.csv'), newline='') as f:
        return [{**r, 'step': int(r['step']), 'value': float(r['value'])} for r in csv.DictReader(f)]


def test_swinir_validation_table_is_the_committed_training_curves():
    rows = read_curves('recipe_1600')
    assert {r['run'] for r in rows} == {'SwinIR', 'WNE-SwinIR'}
    page = read(RESULTS_PAGE)
    assert validation_table(rows) in page
    assert '](results/repro_cpu_swinir/recipe_1600/training_curves.png)' in page


def test_swinir_fp32_table_is_the_committed_bf16_and_fp32_curves():
    fp32 = read_curves('fp32_baseline')
    assert {r['run'] for r in fp32} == {'SwinIR-fp32'}
    rows = [r for r in read_curves('recipe_1600') if r['run'] == 'SwinIR'] + fp32
    assert validation_table(rows) in read('docs/results/repro_cpu_swinir/README.md')
    assert os.path.isfile(os.path.join(RESULTS, 'repro_cpu_swinir', 'fp32_baseline', 'training_curves.png'))


DIAGNOSIS_RUNS = ['baseline', 'mean-image', 'mean-fixed', 'drop-path-0', 'patch-64', 'scale-only', 'dataset-norm',
                  'WNE']


def test_swinir_diagnosis_tables_are_the_committed_training_curves():
    rows = read_curves('diagnosis')
    assert sorted({r['run'] for r in rows}) == sorted(DIAGNOSIS_RUNS)
    page = read('docs/results/repro_cpu_swinir/README.md')
    assert validation_table(rows) in page
    for run in DIAGNOSIS_RUNS:  # PSNR at 800, and the means of the logged l_pix over iterations 25-100 and 725-800
        losses = {r['step']: r['value'] for r in rows if r['run'] == run and r['tag'] == 'losses/l_pix'}
        early = sum(losses[i] for i in range(25, 101, 25)) / 4
        late = sum(losses[i] for i in range(725, 801, 25)) / 4
        final = {r['tag']: r['value'] for r in rows if r['run'] == run and r['step'] == 800}
        psnr = ' / '.join(f"{final[f'metrics/Set12_sigma{s}/psnr_float']:.2f}" for s in (10, 50, 100))
        assert re.search(rf'^\| {re.escape(run)} \|[^\n]*\| 800 \| {psnr} \| {early:.2e} \| {late:.2e} \|', page,
                         re.M), run
    assert os.path.isfile(os.path.join(RESULTS, 'repro_cpu_swinir', 'diagnosis', 'training_curves.png'))


def fair_rows(name: str = 'mismatch.csv') -> list[dict]:
    """The rows of a committed sweep CSV of the fair comparison (``docs/results/repro_cpu_swinir/fair/``)."""
    return read_mismatch_csv(os.path.join(RESULTS, 'repro_cpu_swinir', 'fair', name))


def psnr_at(rows: list[dict], model: str, sigma: float, dataset: str = 'Set12') -> float:
    """A sweep's float PSNR of ``model`` at ``sigma`` on ``dataset``."""
    [row] = [r for r in rows if r['model'] == model and r['dataset'] == dataset and r['sigma_8bit'] == sigma]
    return float(row['psnr_float_db'])


def test_swinir_fair_comparison_tables_are_the_committed_curves_and_sweep():
    page, results_page = read('docs/results/repro_cpu_swinir/README.md'), read(RESULTS_PAGE)
    curves = read_curves('fair')
    assert {r['run'] for r in curves} == {'SwinIR-norm', 'WNE-SwinIR'}
    assert validation_table(curves) in page
    rows = fair_rows()
    assert {r['model'] for r in rows} == {'SwinIR-norm', 'WNE-SwinIR'} and {r['num_images'] for r in rows} == {'12'}
    table = mismatch_table(rows, [5, 10, 24.195, 50, 53.223, 100], datasets=['Set12'])
    assert table in page and table in results_page
    for name in ('psnr_vs_input', 'ssim_vs_sigma', 'ne_defect_vs_sigma', 'panel_01_sigma10', 'panel_01_sigma90',
                 'training_curves'):
        assert os.path.isfile(os.path.join(RESULTS, 'repro_cpu_swinir', 'fair', f'{name}.png')), name


def test_swinir_fair_comparison_bsd68_table_and_gaps_are_the_committed_sweep():
    rows = fair_rows('mismatch_BSD68.csv')
    assert {r['model'] for r in rows} == {'SwinIR-norm', 'WNE-SwinIR'} and {r['num_images'] for r in rows} == {'68'}
    table = mismatch_table(rows, [10, 50, 100], datasets=['BSD68'])
    below = psnr_at(rows, 'SwinIR-norm', 10, 'BSD68') - psnr_at(rows, 'WNE-SwinIR', 10, 'BSD68')
    above = [psnr_at(rows, 'WNE-SwinIR', s, 'BSD68') - psnr_at(rows, 'SwinIR-norm', s, 'BSD68') for s in (50, 100)]
    for path in ('docs/results/repro_cpu_swinir/README.md', RESULTS_PAGE):
        text = read(path)
        assert table in text, path
        assert f'{below:.2f} dB below SwinIR-norm at σ 10' in ' '.join(text.split()), path
        assert f'{above[0]:.2f} and {above[1]:.2f} dB above it at σ 50 and' in ' '.join(text.split()), path
    assert os.path.isfile(os.path.join(RESULTS, 'repro_cpu_swinir', 'fair', 'psnr_vs_input_BSD68.png'))


def test_swinir_fair_comparison_gaps_in_the_docs_are_the_sweeps():
    """The σ_train gap and the σ 50 / 100 gaps stated in both pages, from the committed Set12 CSV."""
    rows = fair_rows()
    below = psnr_at(rows, 'SwinIR-norm', 10) - psnr_at(rows, 'WNE-SwinIR', 10)
    above = [psnr_at(rows, 'WNE-SwinIR', s) - psnr_at(rows, 'SwinIR-norm', s) for s in (50, 100)]
    for path in ('docs/results/repro_cpu_swinir/README.md', RESULTS_PAGE):
        text = ' '.join(read(path).split())
        assert f'**{below:.2f} dB below** SwinIR-norm' in text, path
        assert f'**{above[0]:.2f} and {above[1]:.2f}' in text, path


def test_swinir_sweep_table_is_the_committed_mismatch_csv():
    rows = read_mismatch_csv(os.path.join(RESULTS, 'repro_cpu_swinir', 'mismatch.csv'))
    assert {r['model'] for r in rows} == {'SwinIR', 'WNE-SwinIR'}
    table = mismatch_table(rows, [5, 10, 24.195, 50, 53.223, 100], datasets=['Set12'])
    page = read(RESULTS_PAGE)
    assert table in page
    for plot in ('psnr_vs_input', 'ssim_vs_sigma', 'ne_defect_vs_sigma'):
        assert os.path.isfile(os.path.join(RESULTS, 'repro_cpu_swinir', f'{plot}.png'))
    assert '](results/repro_cpu_swinir/psnr_vs_input.png)' in page


def swinir_sampler_runs() -> dict[str, list[dict]]:
    """The committed per-image sampler CSVs of the two SwinIR-lite priors, by label."""
    return {label: read_sampler_csv(os.path.join(RESULTS, 'sampler_swinir', f'{label}_per_image.csv'))
            for label in ('SwinIR', 'WNE-SwinIR')}


def test_swinir_sampler_tables_are_the_committed_per_image_csvs():
    runs = swinir_sampler_runs()
    assert sampler_table(runs) in read(RESULTS_PAGE)
    assert sampler_image_table(runs) in read('docs/results/sampler_swinir/README.md')
    for label in runs:
        assert os.path.isfile(os.path.join(RESULTS, 'sampler_swinir', f'{label}_01_trajectory.png'))


def test_swinir_sampler_csvs_hold_the_readme_claims():
    """Whole 256×256 images 01-07, and WNE's final PSNR above the baseline's on each, as docs/results.md says."""
    base, wne = swinir_sampler_runs().values()
    assert [row['image'] for row in base] == [row['image'] for row in wne] == [f'{i:02d}' for i in range(1, 8)]
    assert all((row['height'], row['width']) == (256, 256) for row in base + wne)
    assert all(w['final_psnr'] > b['final_psnr'] for b, w in zip(base, wne))
    assert {row['stop_reason'] for row in base} == {'sigma_stop'}


N2N_LABELS = ('SwinIR-norm-N2N', 'WNE-SwinIR-N2N')


def n2n_sampler_runs() -> dict[str, list[dict]]:
    """The committed per-image sampler CSVs of the two Noise2Noise SwinIR-lite priors, by label."""
    return {label: read_sampler_csv(os.path.join(RESULTS, 'sampler_swinir_n2n', f'{label}_per_image.csv'))
            for label in N2N_LABELS}


def test_swinir_n2n_sampler_tables_are_the_committed_per_image_csvs():
    """The Noise2Noise priors' sampler tables of both pages, from their per-image CSVs: whole Set12 images 01-07,
    every image's steps and stop reason."""
    folder = os.path.join(RESULTS, 'sampler_swinir_n2n')
    runs = n2n_sampler_runs()
    for rows in runs.values():
        assert [row['image'] for row in rows] == [f'{i:02d}' for i in range(1, 8)]
        assert all((row['height'], row['width']) == (256, 256) and row['stop_reason'] for row in rows)
    assert sampler_table(runs) in read(RESULTS_PAGE)
    page = read('docs/results/sampler_swinir_n2n/README.md')
    assert sampler_table(runs) in page and sampler_image_table(runs) in page
    for label in runs:
        assert os.path.isfile(os.path.join(folder, f'{label}_01_trajectory.png'))


def test_swinir_n2n_sampler_csvs_hold_the_docs_claims():
    """WNE above the collapsed baseline on every image, every image stopped as diverged, and the priors' validation
    table is their committed training curves."""
    base, wne = n2n_sampler_runs().values()
    gaps = [w['final_psnr'] - b['final_psnr'] for b, w in zip(base, wne)]
    assert min(gaps) > 5 and {row['stop_reason'] for row in base + wne} == {'diverged'}
    text = ' '.join(read(RESULTS_PAGE).split())
    assert f'**WNE is {min(gaps):.1f}–{max(gaps):.1f} dB above it on every image** (mean {sum(gaps) / 7:.2f}' in text
    curves = read_curves('sampler_swinir_n2n', parent='')
    assert {r['run'] for r in curves} == set(N2N_LABELS)
    assert validation_table(curves) in read('docs/results/sampler_swinir_n2n/README.md')


def test_swinir_n2n_priors_low_sigma_table_is_the_committed_sweep():
    """The priors' one-pass quality at σ_stop: the table and the losses against the input, from the CSV."""
    rows = read_mismatch_csv(os.path.join(RESULTS, 'sampler_swinir_n2n', 'low_sigma.csv'))
    assert {r['model'] for r in rows} == {*N2N_LABELS, 'WNE-SwinIR'} and {r['num_images'] for r in rows} == {'7'}
    text = read('docs/results/sampler_swinir_n2n/README.md')
    assert mismatch_table(rows, [2.55, 5, 10], datasets=['Set12']) in text
    (noisy, ) = {float(r['input_psnr_db']) for r in rows if r['sigma_8bit'] == 2.55}
    below = [noisy - psnr_at(rows, model, 2.55) for model in ('WNE-SwinIR-N2N', 'WNE-SwinIR')]
    assert min(below) > 0
    text = ' '.join(text.split())
    assert f"WNE-SwinIR-N2N's output is {below[0]:.2f} dB *below* its input" in text
    assert f'fair comparison\'s: {below[1]:.2f} dB below)' in text


def table_cells(text: str, first_cells: tuple[str, ...]) -> dict[tuple[str, ...], list[str]]:
    """The Markdown table rows of ``text`` keyed by their first ``len(first_cells)`` cells (bold marks dropped), for
    the rows whose leading cells are among ``first_cells``' allowed values (each a '|'-joined alternative list)."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith('| '):
            continue
        cells = [c.strip().replace('**', '') for c in line.strip().strip('|').split('|')]
        key = tuple(cells[:len(first_cells)])
        if all(k in allowed.split('|') for k, allowed in zip(key, first_cells)):
            rows[key] = cells[len(first_cells):]
    return rows


def section(text: str, heading: str) -> str:
    """The part of a Markdown page from ``heading`` to the next heading of the same or a higher level."""
    start = text.index(heading)
    level = len(heading) - len(heading.lstrip('#'))
    end = re.search(rf'^#{{1,{level}}} ', text[start + len(heading):], re.MULTILINE)
    return text[start:] if end is None else text[start:start + len(heading) + end.start()]


def psnr_cells(cells: list[str]) -> list[str]:
    """The PSNR of each cell ('11.93 (σ 85.413)' → '11.93'; '–' kept)."""
    return [c.split(' ')[0] for c in cells]


QUICKSTART_ROWS = {'input (noisy)': 'input (noisy)', 'DnCNN (baseline, l1)': 'DnCNN', 'WNE(DnCNN) (l2)': 'WNE-DnCNN'}


def test_quickstart_table_is_the_committed_sweep_in_readme_and_results_page():
    """The README's headline table and the one of docs/results.md are the same, and their PSNRs are the Set12 points
    of docs/results/quickstart/mismatch.csv at σ 10, 25, 50."""
    rows = read_mismatch_csv(os.path.join(RESULTS, 'quickstart', 'mismatch.csv'))
    committed = table_cells(mismatch_table(rows, [10, 25, 50], datasets=['Set12']), ('Set12', '|'.join(
        QUICKSTART_ROWS.values())))
    for page, heading in (('README.md', '## The result'), (RESULTS_PAGE, '## Quick start')):
        shown = table_cells(section(read(page), heading), ('|'.join(QUICKSTART_ROWS),))
        assert set(shown) == {(label,) for label in QUICKSTART_ROWS}, page
        for (label,), cells in shown.items():
            assert cells[:3] == committed[('Set12', QUICKSTART_ROWS[label])], f'{page}: {label}'
    assert 'docs/results/quickstart/psnr_vs_input.png' in read('README.md')


REPRO_ROWS = {'input (noisy)': 'input (noisy)', 'DnCNN, ours': 'DnCNN', 'WNE(DnCNN), ours': 'WNE-DnCNN'}


def test_repro_cpu_table_is_the_committed_sweep():
    """Our rows of the σ-25 DnCNN table of docs/results.md are docs/results/repro_cpu/mismatch.csv."""
    rows = read_mismatch_csv(os.path.join(RESULTS, 'repro_cpu', 'mismatch.csv'))
    committed = table_cells(mismatch_table(rows, [5, 15, 25, 50, 85]), ('Set12|BSD68', '|'.join(REPRO_ROWS.values())))
    shown = table_cells(section(read(RESULTS_PAGE), '## DnCNN at σ = 25'), ('Set12|BSD68', '|'.join(REPRO_ROWS)))
    assert len(shown) == 6
    for (dataset, label), cells in shown.items():
        assert psnr_cells(cells) == committed[(dataset, REPRO_ROWS[label])], (dataset, label)


JPEG_COLUMNS = ['input (JPEG)', 'DnCNN', 'SE-FDnCNN', 'NE-FDnCNN', 'WNE-DnCNN']


def test_jpeg_table_is_the_committed_sweep():
    """The 'ours' rows of the JPEG table of docs/results.md are docs/results/jpeg_from_uniform/mismatch.csv."""
    rows = read_mismatch_csv(os.path.join(RESULTS, 'jpeg_from_uniform', 'mismatch.csv'))
    committed = table_cells(mismatch_table(rows, [5, 85], datasets=['Set12']), ('Set12', '|'.join(JPEG_COLUMNS)))
    shown = table_cells(section(read(RESULTS_PAGE), '## JPEG artefacts'), ('quality 5, ours|quality 85, ours',))
    assert len(shown) == 2
    for (label,), cells in shown.items():
        column = 0 if label.startswith('quality 5,') else 1
        assert cells == [committed[('Set12', model)][column] for model in JPEG_COLUMNS], label
