"""The flags of wne-mismatch that shorten a run override the options file; bad values end in one line; --help says
what the paper's protocol costs."""
import pytest
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from wne_basicsr.cli import mismatch_curve
from wne_basicsr.evaluation.sweep_config import SweepConfig

TINY = {'type': 'DnCNN', 'num_in_ch': 1, 'num_feat': 4, 'num_layers': 3}


@pytest.fixture
def options_file(tmp_path) -> str:
    """A sweep options file at the paper's protocol but for two capped sets and the NE defect's image cap."""
    path = tmp_path / 'sweep.yml'
    path.write_text(yaml.safe_dump({
        'name': 'flags', 'ne_defect': {'max_images': 1},
        'datasets': {'SetA': {'dataroot_gt': 'a'}, 'SetB': {'dataroot_gt': 'b', 'max_images': 2}},
        'models': {'tiny': {'network_g': TINY, 'checkpoint': 'tiny.pth', 'sigma_train': 25}}}))
    return str(path)


def sweep(argv: list[str]) -> SweepConfig:
    return SweepConfig.from_opt(mismatch_curve.sweep_options(mismatch_curve.parse_args(argv)))


def test_without_flags_the_file_and_the_paper_defaults_hold(options_file):
    config = sweep(['-opt', options_file])
    assert config.n_averages == 20 and len(config.levels) == 21 and config.ne_defect.num_affine == 8
    assert [d.max_images for d in config.datasets] == [None, 2]


def test_flags_shorten_the_run(options_file):
    config = sweep(['-opt', options_file, '--max-images', '3', '--sigmas', '10,50', '--n-averages', '2',
                    '--ne-affine', '2'])
    assert [d.max_images for d in config.datasets] == [3, 2]  # a smaller cap of the file stays
    assert config.levels == (10.0, 25.0, 50.0)  # σ_train is added
    assert config.n_averages == 2
    assert (config.ne_defect.num_affine, config.ne_defect.max_images) == (2, 1)  # the file's other NE settings stay
    assert sweep(['-opt', options_file, '--sigmas', '5', '15,35']).levels == (5.0, 15.0, 25.0, 35.0)


def test_ne_affine_turns_on_an_ne_defect_the_file_turned_off(options_file, tmp_path):
    opt = yaml.safe_load((tmp_path / 'sweep.yml').read_text())
    (tmp_path / 'off.yml').write_text(yaml.safe_dump({**opt, 'ne_defect': False}))
    assert sweep(['-opt', str(tmp_path / 'off.yml')]).ne_defect is None
    assert sweep(['-opt', str(tmp_path / 'off.yml'), '--ne-affine', '3']).ne_defect.num_affine == 3


@pytest.mark.parametrize('flags, message', [
    (['--n-averages', '0'], 'argument --n-averages: expected a whole number >= 1, got 0'),
    (['--max-images', 'all'], "argument --max-images: expected a whole number >= 1, got 'all'"),
    (['--sigmas', '10,x'], "argument --sigmas: expected σ values such as 10,50 (8-bit units), got '10,x'"),
    (['--sigmas', '-5'], "argument --sigmas: expected σ values >= 0"),
    (['--ne-affine', '2', '--no-ne-defect'], '--ne-affine sets the NE defect\'s affine draws, --no-ne-defect turns '
                                             'it off'),
])
def test_bad_flags_end_in_one_line(options_file, capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        mismatch_curve.parse_args(['-opt', options_file, *flags])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and ': error: ' in err and message in err


def test_help_says_what_the_protocol_costs_and_how_to_shorten_it(capsys):
    with pytest.raises(SystemExit):
        mismatch_curve.parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert '2 images × 3 σ took 276 s on a 2-core CPU' in text
    for flag in ('--max-images N', '--sigmas 10,50', '--n-averages K', '--ne-affine K'):
        assert flag in text
