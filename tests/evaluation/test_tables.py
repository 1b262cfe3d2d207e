"""Markdown tables from mismatch and sampler CSVs: the right values, clear errors; the CLIs print them."""
import os.path as osp
import subprocess
import sys

import pytest

from wne_basicsr.cli.mismatch_table import main as mismatch_table_main
from wne_basicsr.cli.sampler_table import main as sampler_table_main
from wne_basicsr.evaluation.sweep_outputs import CSV_COLUMNS, write_mismatch_csv
from wne_basicsr.evaluation.tables import (
    SAMPLER_COLUMNS,
    mismatch_table,
    read_mismatch_csv,
    read_sampler_csv,
    sampler_image_table,
    sampler_table,
)
from wne_basicsr.utils.csv_io import write_csv as write_rows

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def row(model, dataset, sigma, psnr, input_psnr):
    values = {c: '' for c in CSV_COLUMNS}
    values.update(model=model, dataset=dataset, noise='gaussian', sigma_8bit=sigma, sigma=sigma / 255,
                  input_psnr_db=input_psnr, psnr_float_db=psnr, ssim=0.5)
    return values


@pytest.fixture
def csv_path(tmp_path):
    models = (('DnCNN', 20), ('WNE-DnCNN', 30))
    rows = [row(m, d, s, p + (1 if d == 'BSD68' else 0), 40 - s / 5) for d in ('Set12', 'BSD68')
            for m, base in models for s, p in ((5, base + 5), (25, base), (85.413, base - 5))]
    return write_mismatch_csv(rows, str(tmp_path / 'mismatch.csv'))


def test_table_has_input_and_model_rows_at_the_asked_sigmas(csv_path):
    table = mismatch_table(read_mismatch_csv(csv_path), [25, 85.413], datasets=['BSD68'])
    lines = table.splitlines()
    assert lines[0] == '| test set | model | σ = 25 | σ = 85.413 |'
    assert lines[2:] == ['| BSD68 | input (noisy) | 35.00 | 22.92 |', '| BSD68 | DnCNN | 21.00 | 16.00 |',
                         '| BSD68 | WNE-DnCNN | 31.00 | 26.00 |']


def test_missing_sigma_or_set_or_column_is_named(csv_path):
    rows = read_mismatch_csv(csv_path)
    with pytest.raises(ValueError, match=r'Set12: no row at sigma 50; the CSV has sigma 5, 25, 85.413'):
        mismatch_table(rows, [50])
    with pytest.raises(ValueError, match=r"test set 'CBSD68' is not in the CSV"):
        mismatch_table(rows, [25], datasets=['CBSD68'])
    with pytest.raises(ValueError, match='column must be one of'):
        mismatch_table(rows, [25], column='psnr')


def test_cli_prints_the_table_and_names_a_missing_file(csv_path, tmp_path, capsys):
    script = osp.join(REPO, 'scripts', 'mismatch_table.py')
    out = subprocess.run([sys.executable, script, csv_path, '--sigmas', '5', '25'], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '| Set12 | WNE-DnCNN | 35.00 | 30.00 |' in out.stdout
    missing = str(tmp_path / 'nope.csv')
    with pytest.raises(SystemExit) as stop:
        mismatch_table_main([missing, '--sigmas', '5'])
    assert stop.value.code == 2 and f'mismatch CSV {missing!r} does not exist' in capsys.readouterr().err


def test_cli_wide_keeps_jpeg_qualities_integers(tmp_path):
    rows = []
    for model, base in (('DnCNN', 25.0), ('WNE-DnCNN', 27.0)):
        for quality in (85, 5):
            values = {c: '' for c in CSV_COLUMNS}
            values.update(model=model, dataset='Set12', degradation='jpeg', quality=quality, input_psnr_db=quality / 4,
                          psnr_float_db=base + quality / 10, psnr_uint8_db=base, ssim=0.5, is_train_sigma=0)
            rows.append(values)
    mismatch_table_main([write_mismatch_csv(rows, str(tmp_path / 'mismatch.csv')), '--wide', str(tmp_path / 'wide')])
    lines = (tmp_path / 'wide' / 'mismatch_wide_Set12.csv').read_text().splitlines()
    assert lines[0] == 'quality,input_psnr_db,is_train_sigma,DnCNN,DnCNN_uint8,WNE-DnCNN,WNE-DnCNN_uint8'
    assert lines[1:] == ['5,1.25,0,25.5,25.0,27.5,27.0', '85,21.25,0,33.5,25.0,35.5,27.0']


def sampler_rows(finals, steps, reason, observed=6.0):
    return [{'image': f'{i + 1:02d}', 'index': i, 'observed_psnr': observed, 'one_pass_psnr': observed + 1,
             'final_psnr': final, 'final_ssim': final / 40, 'final_step': step, 'stop_reason': reason}
            for i, (final, step) in enumerate(zip(finals, steps))]


@pytest.fixture
def sampler_csvs(tmp_path):
    baseline = str(tmp_path / 'baseline.csv')
    wne = str(tmp_path / 'wne.csv')
    write_rows(sampler_rows([18.0, 20.0], [1000, 1000], 'max_steps'), baseline)
    write_rows(sampler_rows([22.0, 25.0, 24.0], [140, 150, 160], 'sigma_stop', observed=5.0), wne)
    return baseline, wne


def test_sampler_tables_give_means_sd_steps_stops_and_per_image_differences(sampler_csvs):
    runs = {'DnCNN': read_sampler_csv(sampler_csvs[0]), 'WNE': read_sampler_csv(sampler_csvs[1])}
    lines = sampler_table(runs).splitlines()
    assert lines[0].startswith('| model | images | observed | one pass | final (sd) |')
    assert lines[2] == '| DnCNN | 2 | 6.00 | 7.00 | 19.00 (1.41) | 0.475 | 1000.0 | max_steps 2 |'
    assert lines[3] == '| WNE | 3 | 5.00 | 6.00 | 23.67 (1.53) | 0.592 | 150.0 | sigma_stop 3 |'
    per_image = sampler_image_table(runs).splitlines()
    assert per_image[0] == '| image | DnCNN final (steps) | WNE final (steps) | WNE − DnCNN |'
    assert per_image[2:] == ['| 01 | 18.00 (1000) | 22.00 (140) | +4.00 |',
                             '| 02 | 20.00 (1000) | 25.00 (150) | +5.00 |']


def test_sampler_csv_errors_name_the_file(tmp_path, csv_path):
    with pytest.raises(FileNotFoundError, match='sampler CSV .*nope.csv'):
        read_sampler_csv(str(tmp_path / 'nope.csv'))
    with pytest.raises(ValueError, match=r'not a sampler per_image.csv, columns .*final_psnr'):
        read_sampler_csv(csv_path)
    empty = tmp_path / 'empty.csv'
    empty.write_text(','.join(SAMPLER_COLUMNS) + '\n')
    with pytest.raises(ValueError, match='empty.csv: the sampler CSV has no image rows'):
        read_sampler_csv(str(empty))
    runs = {'a': sampler_rows([1.0], [1], 'max_steps'), 'b': sampler_rows([1.0, 2.0], [1, 1], 'max_steps')[1:]}
    with pytest.raises(ValueError, match='no image in common'):
        sampler_image_table(runs)


def test_sampler_cli_prints_both_tables_and_refuses_a_bad_argument(sampler_csvs, capsys):
    script = osp.join(REPO, 'scripts', 'sampler_table.py')
    args = [sys.executable, script, f'DnCNN={sampler_csvs[0]}', f'WNE={sampler_csvs[1]}', '--per-image']
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '| WNE | 3 |' in out.stdout and '| 02 | 20.00 (1000) | 25.00 (150) | +5.00 |' in out.stdout
    with pytest.raises(SystemExit) as stop:
        sampler_table_main([sampler_csvs[0]])
    assert stop.value.code == 2 and 'expected LABEL=CSV' in capsys.readouterr().err
