"""scripts/training_curves.py: CSV, plot and validation table from tensorboard folders; option errors."""
import csv
import os.path as osp
import subprocess
import sys

SCRIPT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'scripts', 'training_curves.py')


def test_cli_writes_csv_and_plot_and_prints_the_table(tb_runs, tmp_path):
    out = tmp_path / 'out'
    result = subprocess.run([sys.executable, SCRIPT, *tb_runs, '--labels', 'SwinIR', 'WNE', '--output', str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '| WNE | 40 | 32.50 | 25.12 | 20.12 |' in result.stdout
    with open(out / 'training_curves.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * (4 + 4 * 2) and rows[0].keys() == {'run', 'tag', 'step', 'value'}
    assert (out / 'training_curves.png').stat().st_size > 10_000
    bad = subprocess.run([sys.executable, SCRIPT, *tb_runs, '--labels', 'one', '--output', str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and '2 runs' in bad.stderr
