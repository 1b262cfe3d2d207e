"""scripts/denoise.py: gray and colour, 8- and 16-bit PNG out matching the input, tiling, clear errors."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network

from wne_basicsr.cli import denoise
from wne_basicsr.data.image_io import decode_image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def trained_files(tmp_path, channels: int) -> tuple[str, str, torch.nn.Module]:
    """An options file and a checkpoint of a small WNE(DnCNN) with ``channels`` input channels; the network."""
    torch.manual_seed(channels)
    network = {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_in_ch': channels, 'num_feat': 8, 'num_layers': 4}}
    net = build_network(dict(network)).eval()
    checkpoint = tmp_path / f'net_{channels}.pth'
    torch.save({'params': net.state_dict()}, checkpoint)
    opt = tmp_path / f'train_{channels}.yml'
    opt.write_text(yaml.safe_dump({'name': 'x', 'network_g': network, 'path': {'pretrain_network_g': None}}))
    return str(opt), str(checkpoint), net


def noisy(shape, peak: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = cv2.GaussianBlur(rng.uniform(0.2, 0.8, shape).astype(np.float32), (7, 7), 2)
    dtype = np.uint16 if peak == 65535 else np.uint8
    return np.clip((clean + rng.normal(0, 0.1, shape)) * peak, 0, peak).round().astype(dtype)


def expected(net, path: str, color: str) -> np.ndarray:
    """The network's output for an image file, H×W×C in [0, 1] (RGB order)."""
    x = torch.from_numpy(decode_image(open(path, 'rb').read(), path, color).transpose(2, 0, 1))[None]
    with torch.no_grad():
        return net(x)[0].clamp(0, 1).numpy().transpose(1, 2, 0)


def test_gray_8_and_16_bit_from_the_repo_root(tmp_path):
    opt, checkpoint, net = trained_files(tmp_path, 1)
    (tmp_path / 'in' / 'sub').mkdir(parents=True)
    cv2.imwrite(str(tmp_path / 'in' / 'a.png'), noisy((37, 50), 255, 0))
    cv2.imwrite(str(tmp_path / 'in' / 'sub' / 'b.png'), noisy((41, 29), 65535, 1))
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    cmd = [sys.executable, 'scripts/denoise.py', '--opt', opt, '--checkpoint', checkpoint,
           '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out'), '--device', 'cpu']
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '2/2' in result.stderr  # tqdm progress
    assert result.stdout.strip().splitlines()[-1] == f'denoised 2 image(s) into {tmp_path / "out"}'
    a = cv2.imread(str(tmp_path / 'out' / 'a.png'), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(tmp_path / 'out' / 'sub' / 'b.png'), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint8 and a.shape == (37, 50)
    assert b.dtype == np.uint16 and b.shape == (41, 29)
    assert np.abs(b / 65535 - expected(net, str(tmp_path / 'in' / 'sub' / 'b.png'), 'gray')[..., 0]).max() < 1e-4
    assert np.abs(a / 255 - expected(net, str(tmp_path / 'in' / 'a.png'), 'gray')[..., 0]).max() <= 0.5 / 255 + 1e-6


def test_colour_16_bit_png_and_jpeg_tiled(tmp_path):
    opt, checkpoint, net = trained_files(tmp_path, 3)
    cv2.imwrite(str(tmp_path / 'c.png'), noisy((45, 60, 3), 65535, 2))
    cv2.imwrite(str(tmp_path / 'd.jpg'), noisy((30, 33, 3), 255, 3))
    script = denoise
    for name in ('c.png', 'd.jpg'):
        script.main(['--opt', opt, '--checkpoint', checkpoint, '--input', str(tmp_path / name),
                     '--output', str(tmp_path / 'out'), '--tile', '24', '--overlap', '12', '--device', 'cpu'])
    c = cv2.imread(str(tmp_path / 'out' / 'c.png'), cv2.IMREAD_UNCHANGED)
    d = cv2.imread(str(tmp_path / 'out' / 'd.png'), cv2.IMREAD_UNCHANGED)
    assert c.dtype == np.uint16 and c.shape == (45, 60, 3)
    assert d.dtype == np.uint8 and d.shape == (30, 33, 3)
    rgb = cv2.cvtColor(c, cv2.COLOR_BGR2RGB) / 65535  # tiles of 24 with overlap 12 cover the 4-layer receptive field
    assert np.abs(rgb - expected(net, str(tmp_path / 'c.png'), 'rgb')).max() < 1e-4



def test_inference_dtype_and_channels_last_from_the_options_or_the_flags(tmp_path):
    """bf16 from the options file changes the 16-bit output a little; --inference-dtype fp32 restores the exact one."""
    opt, checkpoint, net = trained_files(tmp_path, 1)
    options = yaml.safe_load(open(opt))
    yaml.safe_dump({**options, 'inference_dtype': 'bf16', 'channels_last': True}, open(opt, 'w'))
    cv2.imwrite(str(tmp_path / 'e.png'), noisy((40, 36), 65535, 4))
    outputs = {}
    for name, flags in (('bf16', []), ('fp32', ['--inference-dtype', 'fp32', '--no-channels-last'])):
        denoise.main(['--opt', opt, '--checkpoint', checkpoint, '--input', str(tmp_path / 'e.png'), '--output',
                      str(tmp_path / name), '--device', 'cpu', *flags])
        outputs[name] = cv2.imread(str(tmp_path / name / 'e.png'), cv2.IMREAD_UNCHANGED)[..., None] / 65535
    reference = expected(net, str(tmp_path / 'e.png'), 'gray')
    assert np.abs(outputs['fp32'] - reference).max() < 1e-4
    assert not np.array_equal(outputs['bf16'], outputs['fp32']) and np.abs(outputs['bf16'] - reference).max() < 2e-2

@pytest.mark.parametrize('case, message', [
    ('missing checkpoint', 'path.pretrain_network_g: .*missing.pth: no such checkpoint file'),
    ('wrong channels', 'shapes differ'),
    ('no input', '--input .*nothing: no such file or folder'),
    ('corrupt image', r'bad\.png: cannot decode the image'),
])
def test_bad_input_exits_with_a_one_line_error(tmp_path, case, message):
    opt, checkpoint, _ = trained_files(tmp_path, 1)
    _, colour_checkpoint, _ = trained_files(tmp_path, 3)
    cv2.imwrite(str(tmp_path / 'ok.png'), noisy((20, 20), 255, 4))
    (tmp_path / 'bad.png').write_bytes((tmp_path / 'ok.png').read_bytes()[:60])
    args = {'missing checkpoint': (str(tmp_path / 'missing.pth'), 'ok.png'),
            'wrong channels': (colour_checkpoint, 'ok.png'), 'no input': (checkpoint, 'nothing'),
            'corrupt image': (checkpoint, 'bad.png')}[case]
    with pytest.raises(SystemExit, match=f'denoise.py: error: .*{message}'):
        denoise.main(['--opt', opt, '--checkpoint', args[0], '--input',
                                                str(tmp_path / args[1]), '--output', str(tmp_path / 'out'),
                                                '--device', 'cpu'])


def run_denoise(opt: str, checkpoint: str, source, output, *flags: str) -> None:
    denoise.main(['-opt', opt, '--checkpoint', checkpoint, '--input', str(source), '--output', str(output),
                  '--device', 'cpu', *flags])


def test_opt_takes_one_or_two_dashes():
    rest = ['--checkpoint', 'c.pth', '--input', 'in', '--output', 'out']
    assert denoise.parse_args(['-opt', 'a.yml', *rest]).opt == denoise.parse_args(['--opt', 'a.yml', *rest]).opt


@pytest.mark.parametrize('output', ['in', 'in/sub', 'in/denoised', 'file'])
def test_output_in_the_input_is_refused_and_the_originals_stay_as_they_were(tmp_path, output):
    opt, checkpoint, _ = trained_files(tmp_path, 1)
    (tmp_path / 'in' / 'sub').mkdir(parents=True)
    for i, name in enumerate(('a.png', 'sub/b.png')):
        cv2.imwrite(str(tmp_path / 'in' / name), noisy((20, 24), 255, i))
    before = {p: p.read_bytes() for p in (tmp_path / 'in').rglob('*') if p.is_file()}
    source, target = ((tmp_path / 'in' / 'a.png', tmp_path / 'in') if output == 'file' else
                      (tmp_path / 'in', tmp_path / output))
    with pytest.raises(SystemExit, match=r'^denoise\.py: error: --output .* is \(inside\) --input .*: the denoised '
                                         r'images would overwrite or mix with the noisy originals; choose an '
                                         r'--output folder outside --input$'):
        run_denoise(opt, checkpoint, source, target)
    assert {p: p.read_bytes() for p in (tmp_path / 'in').rglob('*') if p.is_file()} == before


@pytest.mark.parametrize('mode', [None, 'per-channel', 'y', 'gray'])
def test_colour_image_with_a_gray_network(tmp_path, mode, capsys):
    opt, checkpoint, net = trained_files(tmp_path, 1)
    cv2.imwrite(str(tmp_path / 'c.png'), noisy((30, 26, 3), 65535, 5))
    run_denoise(opt, checkpoint, tmp_path / 'c.png', tmp_path / 'out', *(['--color-mode', mode] if mode else []))
    warned = 'c.png: a colour image and a gray network: R, G and B denoised one by one' in capsys.readouterr().err
    assert warned == (mode is None)
    out = cv2.imread(str(tmp_path / 'out' / 'c.png'), cv2.IMREAD_UNCHANGED) / 65535
    rgb = decode_image((tmp_path / 'c.png').read_bytes(), 'c.png', 'rgb')
    with torch.no_grad():
        if mode in (None, 'per-channel'):
            channels = [net(torch.from_numpy(rgb[None, None, :, :, c]))[0, 0].numpy() for c in range(3)]
            assert np.abs(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_BGR2RGB) -
                          np.stack(channels, axis=2).clip(0, 1)).max() < 1e-4
            return
        luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        denoised = net(torch.from_numpy(luma[None, None]))[0, 0].numpy()
    if mode == 'gray':
        assert out.shape == (30, 26) and np.abs(out - denoised.clip(0, 1)).max() < 1e-4
        return
    expected_rgb = (rgb + (denoised - luma)[..., None]).clip(0, 1)  # Y replaced, Cb and Cr kept
    assert np.abs(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_BGR2RGB) - expected_rgb).max() < 1e-4


def test_a_corrupt_file_is_skipped_the_others_written_and_the_exit_names_it(tmp_path, capsys):
    opt, checkpoint, _ = trained_files(tmp_path, 1)
    (tmp_path / 'in').mkdir()
    for i, name in enumerate(('a.png', 'c.png')):
        cv2.imwrite(str(tmp_path / 'in' / name), noisy((20, 24), 255, i))
    (tmp_path / 'in' / 'b.png').write_bytes((tmp_path / 'in' / 'a.png').read_bytes()[:60])
    with pytest.raises(SystemExit, match=r'^denoise\.py: error: 1 of 3 image\(s\) skipped, nothing written for them: '
                                         r'\S+/in/b\.png: cannot decode the image'):
        run_denoise(opt, checkpoint, tmp_path / 'in', tmp_path / 'out')
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['a.png', 'c.png']
    assert all(cv2.imread(str(tmp_path / 'out' / name)) is not None for name in ('a.png', 'c.png'))
    assert capsys.readouterr().out.strip() == f'denoised 2 image(s) into {tmp_path / "out"}'


def test_a_failed_write_leaves_the_previous_output_and_no_partial_file(tmp_path, monkeypatch):
    opt, checkpoint, _ = trained_files(tmp_path, 1)
    cv2.imwrite(str(tmp_path / 'a.png'), noisy((20, 24), 255, 0))
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'a.png').write_bytes(b'previous')

    def no_rename(src: str, dst: str) -> None:
        raise OSError(f'{dst}: disk full')

    monkeypatch.setattr(denoise.os, 'replace', no_rename)
    with pytest.raises(SystemExit, match=r'1 of 1 image\(s\) skipped, .*a\.png: disk full'):
        run_denoise(opt, checkpoint, tmp_path / 'a.png', tmp_path / 'out')
    assert [p.name for p in (tmp_path / 'out').iterdir()] == ['a.png']
    assert (tmp_path / 'out' / 'a.png').read_bytes() == b'previous'
