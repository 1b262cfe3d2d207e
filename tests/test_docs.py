"""Every "§x.y" reference in the repository lands on a heading of docs/method.md; nothing cites outside documents."""
import os
import os.path as osp
import re

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
METHOD = osp.join(REPO, 'docs', 'method.md')
SOURCES = ('wne_basicsr', 'scripts', 'options', 'tests', 'docs', 'benchmarks', 'datasets', 'README.md', 'Makefile',
           'setup.py', '.ci')
TEXT_SUFFIXES = ('.py', '.yml', '.yaml', '.md', '.txt', '.toml', '.cfg', 'Makefile', 'run')
REFERENCE = re.compile(r'§(\d+(?:\.\d+)*)[a-z]?(?:\s*[–-]\s*(\d+(?:\.\d+)*))?')


def text_files() -> list[str]:
    """The repository's source and documentation files (not datasets' images, not run outputs)."""
    found = []
    for source in SOURCES:
        path = osp.join(REPO, source)
        if osp.isfile(path):
            found.append(path)
        for root, _, files in os.walk(path):
            found.extend(osp.join(root, f) for f in files if f.endswith(TEXT_SUFFIXES))
    return sorted(found)


def method_sections() -> set[str]:
    """Section numbers of docs/method.md's headings ("## 4. Training", "### 4.2 The paper's experiments")."""
    with open(METHOD, encoding='utf-8') as f:
        return {m.group(1) for m in re.finditer(r'^#{2,4} (\d+(?:\.\d+)*)[. ]', f.read(), re.MULTILINE)}


def references() -> list[tuple[str, int, str]]:
    """(file, line, section) of each § reference outside docs/method.md; a range gives both of its ends."""
    found = []
    for path in text_files():
        if path == METHOD:
            continue
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                for match in REFERENCE.finditer(line):
                    found.extend((osp.relpath(path, REPO), number, s) for s in match.groups() if s)
    return found


def test_method_document_has_its_sections():
    sections = method_sections()
    assert {str(n) for n in range(1, 11)} <= sections
    assert {'1.2', '3.1', '4.2', '5.1', '5.3', '8.2'} <= sections


def test_every_section_reference_resolves():
    sections = method_sections()
    found = references()
    assert len(found) > 100, 'the code cites docs/method.md throughout'
    unresolved = [f'{path}:{line}: §{section}' for path, line, section in found if section not in sections]
    assert not unresolved, 'references to no heading of docs/method.md:\n' + '\n'.join(unresolved)


# Internal documents of the team, which users do not have (spelled in two parts so that this file does not cite them).
OUTSIDE = [name + '.md' for name in ('METHOD', 'DESIGN', 'BASICSR')] + ['shared/' + 'spec']


@pytest.mark.parametrize('outside', OUTSIDE)
def test_nothing_cites_documents_outside_the_repository(outside):
    hits = []
    for path in text_files():
        with open(path, encoding='utf-8') as f:
            hits.extend(f'{osp.relpath(path, REPO)}:{n}' for n, line in enumerate(f, 1) if outside in line)
    assert not hits, f'{outside} is not part of the repository: ' + ', '.join(hits)
