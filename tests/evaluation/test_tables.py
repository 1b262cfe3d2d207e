"""Markdown tables from a mismatch CSV: values at the asked σ, input row, clear errors; the CLI prints them."""
import os.path as osp
import subprocess
import sys

import pytest

from wne_basicsr.evaluation.mismatch import CSV_COLUMNS, write_csv
from wne_basicsr.evaluation.tables import mismatch_table, read_mismatch_csv

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
    return write_csv(rows, str(tmp_path / 'mismatch.csv'))


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


def test_cli_prints_the_table_and_names_a_missing_file(csv_path, tmp_path):
    script = osp.join(REPO, 'scripts', 'mismatch_table.py')
    out = subprocess.run([sys.executable, script, csv_path, '--sigmas', '5', '25'], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '| Set12 | WNE-DnCNN | 35.00 | 30.00 |' in out.stdout
    missing = str(tmp_path / 'nope.csv')
    out = subprocess.run([sys.executable, script, missing, '--sigmas', '5'], capture_output=True, text=True)
    assert out.returncode == 2 and f'mismatch CSV {missing!r} does not exist' in out.stderr
