"""The README's "Use WNE in your own code" snippet runs as written, and its model is exactly NE; its SwinIR
validation table is the committed CSV."""
import csv
import os
import re
import subprocess
import sys

from wne_basicsr.evaluation.training_curves import validation_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_swinir_validation_table_is_the_committed_training_curves():
    with open(os.path.join(REPO, 'docs', 'results', 'repro_cpu_swinir', 'training_curves.csv'), newline='') as f:
        rows = [{**r, 'step': int(r['step']), 'value': float(r['value'])} for r in csv.DictReader(f)]
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    assert validation_table(rows) in readme
    assert 'docs/results/repro_cpu_swinir/training_curves.png' in readme
