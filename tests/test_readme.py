"""The README's "Use WNE in your own code" snippet runs as written, and its model is exactly NE."""
import os
import re
import subprocess
import sys

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
