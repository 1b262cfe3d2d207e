"""README.md and docs/**/*.md are written for users: no work-planning vocabulary, every relative link and image lands
on a file of the repository (and every #anchor on a heading of its page), the README stays short with the two make
commands first, and its code layout names what is in the tree."""
from __future__ import annotations

import os
import os.path as osp
import re
import unicodedata

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
README = osp.join(REPO, 'README.md')
README_MAX_LINES = 200


def doc_files() -> list[str]:
    """README.md and every Markdown file under docs/."""
    found = [README]
    for root, _, files in os.walk(osp.join(REPO, 'docs')):
        found.extend(osp.join(root, f) for f in files if f.endswith('.md'))
    return sorted(found)


def read(path: str) -> str:
    with open(path, encoding='utf-8') as f:
        return f.read()


def rel(path: str) -> str:
    return osp.relpath(path, REPO)


# Words of work planning, never of image restoration. Not in the list, because the docs use them in their ordinary
# technical sense: "target" (the clean or Noise2Noise target of a loss), "task" (a slurm task), "worker" (DataLoader
# workers), "milestone" (MultiStepLR milestones). "target" is caught only in planning phrases (PLANNING_PHRASES).
PLANNING_WORDS = ['issue', 'issues', 'budget', 'budgets', 'budgeted', 'session', 'sessions', 'lent', 'acceptance',
                  'deliverable', 'deliverables', 'ticket', 'tickets', 'sprint', 'backlog', 'engineer', 'engineers',
                  'reviewer', 'reviewers']
PLANNING_PHRASES = [
    r'work items?', r'the brief', r'device time',
    r"(?:acceptance|issue'?s?|planning|project|reproduction|numeric(?:al)?) targets?",
    r'(?:meets?|met|miss(?:es|ed)?|hits?|reach(?:es|ed)?|exceed(?:s|ed)?) (?:the|its|our|every|all) targets?',
    r'targets? (?:of|for) (?:the|this) (?:issue|work|project)',
]
MARKERS = ['TODO', 'FIXME', 'XXX', 'TBD', 'WIP']  # case-sensitive: "wip" or "tbd" in prose would be odd anyway
VOCABULARY = re.compile(r'\b(?:' + '|'.join(PLANNING_WORDS + PLANNING_PHRASES) + r')\b', re.IGNORECASE)
MARKER = re.compile(r'\b(?:' + '|'.join(MARKERS) + r')\b')


def vocabulary_hits(text: str) -> list[tuple[int, str]]:
    """(line number, matched text) of every planning word, phrase or marker in ``text``."""
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        hits.extend((number, m.group(0)) for pattern in (VOCABULARY, MARKER) for m in pattern.finditer(line))
    return hits


def test_vocabulary_check_catches_planning_language_and_spares_technical_words():
    assert [hit for _, hit in vocabulary_hits('See the issue. Within the budget of this session, lent by the team.')] \
        == ['issue', 'budget', 'session', 'lent']
    assert vocabulary_hits('TODO: the acceptance targets')
    assert vocabulary_hits('the numbers miss the targets by 0.3 dB')
    assert not vocabulary_hits('the loss compares the output with the clean target; Noise2Noise targets are noisy. '
                               'A silent issuer? No: DataLoader workers, slurm tasks, scheduler milestones, todo.')


@pytest.mark.parametrize('path', doc_files(), ids=rel)
def test_no_planning_vocabulary(path):
    hits = vocabulary_hits(read(path))
    assert not hits, f'{rel(path)}: write for users, not about the work: ' + \
        ', '.join(f'line {n}: "{word}"' for n, word in hits)


FENCE = re.compile(r'^(```|~~~).*?^\1[ \t]*$', re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r'`[^`\n]*`')
HTML_COMMENT = re.compile(r'<!--.*?-->', re.DOTALL)
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
REFERENCE_LINK = re.compile(r'^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$', re.MULTILINE)


def prose(text: str) -> str:
    """``text`` without code blocks, inline code and HTML comments (links there are not links)."""
    return INLINE_CODE.sub('', FENCE.sub('', HTML_COMMENT.sub('', text)))


def links(text: str) -> list[str]:
    """The targets of the inline links, images and reference definitions of a Markdown text."""
    body = prose(text)
    return [m.group(1) for m in LINK.finditer(body)] + [m.group(1) for m in REFERENCE_LINK.finditer(body)]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (letters, marks, digits, '_', '-' and spaces
    kept), spaces turned into '-'."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading.strip()).lower()  # a link in a heading: its text
    kept = ''.join(c for c in text if c in ' -_' or unicodedata.category(c)[0] in 'LMN')
    return kept.replace(' ', '-')


def anchors(path: str) -> set[str]:
    """The anchors of the headings of a Markdown file (duplicates numbered -1, -2, ... as GitHub does)."""
    seen: dict[str, int] = {}
    found = set()
    for match in re.finditer(r'^#{1,6}[ \t]+(.+?)[ \t#]*$', FENCE.sub('', read(path)), re.MULTILINE):
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f'{slug}-{count}')
    return found


def test_slugs_follow_github():
    assert github_slug('DnCNN at σ = 25 (`make repro-cpu`)') == 'dncnn-at-σ--25-make-repro-cpu'
    assert github_slug("Diagnostics of the baseline's plateau") == 'diagnostics-of-the-baselines-plateau'
    assert github_slug('What `train.py` does differently') == 'what-trainpy-does-differently'


def broken_links(path: str) -> list[str]:
    """The relative links of ``path`` whose file (or folder) is missing, or whose #anchor is no heading of it."""
    broken = []
    for target in links(read(path)):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition('#')
        resolved = osp.normpath(osp.join(osp.dirname(path), file_part)) if file_part else path
        if not resolved.startswith(REPO + os.sep) or not osp.exists(resolved):
            broken.append(f'{target} (no such file)')
        elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
            broken.append(f'{target} (no heading "#{anchor}" in {rel(resolved)})')
    return broken


@pytest.mark.parametrize('path', doc_files(), ids=rel)
def test_relative_links_resolve(path):
    broken = broken_links(path)
    assert not broken, f'{rel(path)}: broken links: ' + ', '.join(broken)


def test_link_check_sees_links_and_images(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('# Top\n[ok](#top) [bad](#nowhere) ![img](missing.png) [web](https://example.org)\n'
                    '`[code](not-a-link.md)`\n```\n[fenced](not-a-link.md)\n```\n', encoding='utf-8')
    assert links(page.read_text(encoding='utf-8')) == ['#top', '#nowhere', 'missing.png', 'https://example.org']


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = read(README).splitlines()
    assert len(lines) <= README_MAX_LINES, f'README.md has {len(lines)} lines; move detail to a docs/ page'
    top = '\n'.join(lines[:10])
    assert re.search(r'^make demo\b', top, re.MULTILINE) and re.search(r'^make test\b', top, re.MULTILINE)


def layout_section() -> str:
    """The code block of the README's "Code layout" section."""
    text = read(README)
    section = text[text.index('## Code layout'):]
    return re.search(r'```\n(.*?)```', section, re.DOTALL).group(1)


RUN_OUTPUTS = {'experiments', 'tb_logger', 'results', 'build', 'dist', '__pycache__'}  # .gitignore'd, made by runs


def tree_names() -> list[str]:
    """What the layout must name: the top-level folders (not hidden ones, not run outputs), the modules and
    sub-packages of wne_basicsr/ (those of cli/ are the commands, named as a group), the benchmarks, and the entries
    of options/."""
    names = [f'{d}/' for d in sorted(os.listdir(REPO)) if osp.isdir(osp.join(REPO, d)) and not d.startswith('.')
             and d not in RUN_OUTPUTS and not d.endswith('.egg-info')]
    package = osp.join(REPO, 'wne_basicsr')
    for entry in sorted(os.listdir(package)):
        path = osp.join(package, entry)
        if osp.isdir(path) and osp.isfile(osp.join(path, '__init__.py')):
            names.append(f'{entry}/')
            if entry != 'cli':
                names.extend(f[:-3] for f in sorted(os.listdir(path)) if f.endswith('.py') and f != '__init__.py')
        elif entry.endswith('.py'):
            names.append(entry[:-3])
    names.extend(f[:-3] for f in sorted(os.listdir(osp.join(REPO, 'benchmarks'))) if f.endswith('.py'))
    names.extend(f'options/{e}' for e in sorted(os.listdir(osp.join(REPO, 'options'))))
    return names


def test_readme_layout_names_the_current_tree():
    layout = layout_section()
    # a folder may be named with what follows it (options/ as options/quickstart/); a module is a whole word
    missing = [name for name in tree_names()
               if not re.search(r'(?<![\w.])' + re.escape(name) + ('' if name.endswith('/') else r'(?!\w)'), layout)]
    assert not missing, 'README.md "Code layout" does not mention: ' + ', '.join(missing)
