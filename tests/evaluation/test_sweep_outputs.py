"""The sweep's outputs: wide CSVs that hold exactly the tidy CSV's points (the committed results too), tensorboard."""
import csv
import glob
import math
import os.path as osp

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from wne_basicsr.evaluation.sweep_outputs import level_key, wide_rows, write_tensorboard, write_wide_csvs
from wne_basicsr.evaluation.tables import read_mismatch_csv

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COMMITTED = sorted(osp.relpath(p, REPO)
                   for p in glob.glob(osp.join(REPO, 'docs', 'results', '*', 'mismatch_wide_*.csv')))


def read(path: str) -> list[dict]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_the_repro_sweeps_have_their_wide_csvs():
    for folder in ('repro_cpu', 'jpeg_from_uniform'):
        assert f'docs/results/{folder}/mismatch_wide_Set12.csv' in COMMITTED
        assert f'docs/results/{folder}/mismatch_wide_BSD68.csv' in COMMITTED


@pytest.mark.parametrize('path', COMMITTED)
def test_committed_wide_csv_matches_its_tidy_csv(path):
    folder, name = osp.split(osp.join(REPO, path))
    dataset = name.removeprefix('mismatch_wide_').removesuffix('.csv')
    tidy = [r for r in read(osp.join(folder, 'mismatch.csv')) if r['dataset'] == dataset]
    wide = read(osp.join(REPO, path))
    models = list(dict.fromkeys(r['model'] for r in tidy))
    level = 'quality' if 'quality' in wide[0] else 'sigma_8bit'  # a JPEG sweep is keyed by quality
    assert [c for c in wide[0] if c not in (level, 'input_psnr_db', 'is_train_sigma')] == \
        [c for m in models for c in (m, f'{m}_uint8')]
    assert len(wide) * len(models) == len(tidy)
    for row in tidy:
        match = [w for w in wide if math.isclose(float(w[level]), float(row[level]))]
        assert len(match) == 1
        assert float(match[0][row['model']]) == float(row['psnr_float_db'])
        assert float(match[0][f'{row["model"]}_uint8']) == float(row['psnr_uint8_db'])
        assert float(match[0]['input_psnr_db']) == pytest.approx(float(row['input_psnr_db']), abs=1e-9)


def test_wide_rows_mark_every_training_sigma_and_write_per_set(tmp_path):
    rows = read_mismatch_csv(osp.join(REPO, 'docs', 'results', 'repro_cpu', 'mismatch.csv'))
    table = wide_rows(rows, 'Set12')
    assert [r['sigma_8bit'] for r in table] == sorted({r['sigma_8bit'] for r in rows})
    assert [r['is_train_sigma'] for r in table if r['sigma_8bit'] == 25] == [1]
    assert [osp.basename(p) for p in write_wide_csvs(rows, str(tmp_path))] == ['mismatch_wide_Set12.csv',
                                                                               'mismatch_wide_BSD68.csv']


def test_tensorboard_has_a_scalar_per_model_set_and_metric(tmp_path):
    rows = read_mismatch_csv(osp.join(REPO, 'docs', 'results', 'repro_cpu', 'mismatch.csv'))
    events = EventAccumulator(write_tensorboard(rows, str(tmp_path / 'tb')))
    events.Reload()
    scalars = events.Scalars('BSD68/psnr_float_db/WNE-DnCNN')
    expected = sorted((round(1000 * r['sigma_8bit']), float(r['psnr_float_db'])) for r in rows
                      if r['dataset'] == 'BSD68' and r['model'] == 'WNE-DnCNN')
    assert [(e.step, pytest.approx(e.value, abs=1e-4)) for e in scalars] == expected
    assert 'Set12/ne_defect/DnCNN' in events.Tags()['scalars']


def test_level_key_reads_the_first_rows_degradation():
    assert level_key([{'degradation': 'jpeg'}]) == 'quality'
    assert level_key([{'degradation': 'gaussian'}]) == 'sigma_8bit'
    assert level_key([]) == 'sigma_8bit'
