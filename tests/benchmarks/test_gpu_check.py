"""benchmarks/gpu_check.py: stages run, report and refuse as they say (the whole --smoke run is a CI step)."""
import json

import pytest
from script_loader import load_script

gpu_check = load_script('benchmarks/gpu_check.py', register=True)


def read_report(folder) -> dict:
    with open(folder / 'gpu_check.json') as f:
        return json.load(f)


def test_correctness_and_throughput_stages_pass_on_the_cpu_and_write_both_reports(tmp_path):
    code = gpu_check.main(['--device', 'cpu', '--smoke', '--output', str(tmp_path), '--stages', 'env', 'correctness',
                           'throughput', '--networks', 'DnCNN', '--modes', 'fp32', 'bf16+cl'])
    report = read_report(tmp_path)
    assert code == 0 and report['status'] == 'passed'
    correctness = report['stages']['correctness']
    assert [row['network'] for row in correctness['rows']] == list(gpu_check.CORRECTNESS_NETWORKS)
    assert all(check['ok'] for check in correctness['checks'])
    assert all(row['ne_defect_bf16'] > row['ne_defect_fp32'] for row in correctness['rows']
               if row['network'] == 'FDnCNN norm_equiv')  # bf16 is measured in bf16, not in fp32
    rows = report['stages']['throughput']['rows']
    assert [row['mode'] for row in rows] == ['fp32', 'bf16+cl']
    assert rows[0]['speed-up vs fp32 (WNE)'] == 1 and rows[1]['plain/DenoisingModel'] > 0
    markdown = (tmp_path / 'gpu_check.md').read_text()
    assert '## correctness: passed' in markdown and '| WNE(Restormer-small) |' in markdown
    assert not (tmp_path / 'work').exists()  # the scratch folder is removed


def test_a_stage_that_does_not_fit_is_skipped_and_said_so(tmp_path):
    code = gpu_check.main(['--device', 'cpu', '--smoke', '--output', str(tmp_path), '--stages', 'env', 'end_to_end',
                           '--time-limit', '5'])
    report = read_report(tmp_path)
    assert code == 0 and report['status'] == 'passed (skipped: end_to_end)'
    assert report['stages']['end_to_end']['reason'].startswith('skipped: needs at least 20 s')
    assert 'end_to_end: skipped' in (tmp_path / 'gpu_check.md').read_text()


def test_a_failed_check_or_a_raising_stage_fails_the_run_and_the_rest_still_runs(tmp_path, monkeypatch):
    def failing(ctx, result):
        result.check('a value', 2, False, '≤ 1')

    def raising(ctx, result):
        raise RuntimeError('no kernel image is available')

    monkeypatch.setitem(gpu_check.STAGE_FUNCTIONS, 'correctness', failing)
    monkeypatch.setitem(gpu_check.STAGE_FUNCTIONS, 'end_to_end', raising)
    code = gpu_check.main(['--device', 'cpu', '--smoke', '--output', str(tmp_path), '--stages', 'env', 'correctness',
                           'end_to_end'])
    report = read_report(tmp_path)
    assert code == 1 and report['status'] == 'failed'
    assert report['stages']['correctness']['status'] == 'failed'
    assert report['stages']['end_to_end']['reason'] == 'RuntimeError: no kernel image is available'
    assert '| a value | 2 | ≤ 1 | NO |' in (tmp_path / 'gpu_check.md').read_text()


def test_cuda_is_refused_clearly_where_there_is_none(tmp_path, capsys):
    if gpu_check.torch.cuda.is_available():
        pytest.skip('a CUDA device is visible')
    with pytest.raises(SystemExit):
        gpu_check.main(['--output', str(tmp_path)])
    assert 'no CUDA device is visible' in capsys.readouterr().err
