"""Bad input gets a clear error naming the file or option: NaN/Inf images, wrong or missing checkpoints, unregistered
types, wrong-typed options, truncated validation images, missing datasets, misspelled options."""
import os
import os.path as osp
import sys

import pytest
import torch
import yaml

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.data import build_dataloader, build_dataset
from basicsr.models import build_model
from basicsr.utils.registry import Registry

from wne_basicsr import train
from wne_basicsr.option_checks import OptionError
from wne_basicsr.registry_errors import UnregisteredTypeError, explain_unregistered_types

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def model_options(network: dict | None = None, checkpoint: str | None = None) -> dict:
    return {'name': 'bad', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': False,
            'dist': False, 'rank': 0, 'world_size': 1, 'datasets': {},
            'network_g': network or {'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}},
            'path': {'pretrain_network_g': checkpoint, 'strict_load_g': True}}


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_nan_or_inf_input_names_the_image(bad):
    model = build_model(model_options())
    lq = torch.rand(2, 1, 8, 8)
    lq[1, 0, 3, 3] = bad
    with pytest.raises(ValueError, match=r'^b\.png: the lq image holds 1 NaN/Inf value'):
        model.feed_data({'lq': lq, 'lq_path': ['a.png', 'b.png']})
    with pytest.raises(ValueError, match=r'batch item\(s\) \[1\]: the input image holds 1 NaN/Inf'):
        model.denoise(lq)


@pytest.mark.parametrize('saved, message', [
    ({'type': 'DnCNN', 'num_in_ch': 3, 'num_feat': 8, 'num_layers': 3},
     r'shapes differ \(3\): first_layer.weight: checkpoint \(8, 3, 3, 3\) vs network \(8, 1, 3, 3\)'),
    ({'type': 'FDnCNN', 'num_feat': 8, 'num_layers': 3}, r'missing from the checkpoint .*unexpected in the checkpoint'),
])
def test_checkpoint_of_another_arch_or_channel_count_says_what_differs(tmp_path, saved, message):
    path = tmp_path / 'other.pth'
    torch.save({'params': build_network(dict(saved)).state_dict()}, path)
    network = {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}
    with pytest.raises(ValueError, match=rf'path.pretrain_network_g: .*other.pth: the checkpoint does not fit '
                                         rf'network_g \(type DnCNN\): .*{message}'):
        build_model(model_options(network, str(path)))


def test_missing_checkpoint_names_the_option_and_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'path.pretrain_network_g: .*nowhere.pth: no such checkpoint file'):
        build_model(model_options(checkpoint=str(tmp_path / 'nowhere.pth')))


def test_unregistered_type_lists_close_names(monkeypatch):
    monkeypatch.setattr(Registry, 'get', Registry.get)  # undo the patch after the test
    explain_unregistered_types()
    explain_unregistered_types()  # idempotent
    with pytest.raises(UnregisteredTypeError, match=r"type: 'dncnn' is not registered in .* arch registry; did you "
                                                    r'mean DnCNN, FDnCNN'):
        build_network({'type': 'WNE', 'backbone': {'type': 'dncnn'}})
    with pytest.raises(KeyError, match="'DenoisingModle' .* model registry; did you mean DenoisingModel"):
        build_model({**model_options(), 'model_type': 'DenoisingModle'})
    assert build_network({'type': 'DnCNN', 'num_layers': 2}).__class__.__name__ == 'DnCNN'  # known names still work


@pytest.mark.parametrize('where, value, message', [
    (('train', 'optim_g', 'lr'), '2e-4', r'option train.optim_g.lr must be a number, got .2e-4. \(str\).*!!float'),
    (('datasets', 'train', 'batch_size_per_gpu'), 'two', r'option datasets.train.batch_size_per_gpu must be an int'),
    (('train', 'total_iter'), 'abc', r'option train.total_iter must be a number'),
    (('val', 'val_freq'), '500', r'option val.val_freq must be a number'),
    (('logger', 'print_freq'), 0, r'option logger.print_freq must be at least 1'),
    (('train', 'total_iter'), None, r'option train.total_iter is required'),
])
def test_wrong_typed_training_option_is_named(tmp_path, monkeypatch, where, value, message):
    opt = {'name': 'bad', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0,
           'datasets': {'train': {'name': 't', 'type': 'NoisyImageDataset', 'batch_size_per_gpu': 2}},
           'network_g': {'type': 'DnCNN'}, 'path': {},
           'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'total_iter': 10},
           'val': {'val_freq': 5}, 'logger': {'print_freq': 1, 'save_checkpoint_freq': 5}}
    node = opt
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    (tmp_path / 'bad.yml').write_text(yaml.safe_dump(opt))
    monkeypatch.setattr(sys, 'argv', ['train.py', '-opt', str(tmp_path / 'bad.yml')])
    monkeypatch.setenv('WNE_BASICSR_ROOT', str(tmp_path))
    with pytest.raises(SystemExit, match=f'train.py: error: {message}'):
        train.main()  # the entry point stops right after parsing, before any dataset, model or folder
    assert not (tmp_path / 'experiments').exists()


def test_truncated_image_in_a_val_set_is_named_by_the_loader(tmp_path, make_images):
    paths = make_images(tmp_path / 'val', 3, (24, 24))
    with open(paths[1], 'rb') as f:
        content = f.read()
    with open(paths[1], 'wb') as f:
        f.write(content[:len(content) // 2])
    val_opt = {'name': 'val', 'type': 'NoisyEvalDataset', 'phase': 'val', 'dataroot_gt': str(tmp_path / 'val'),
               'noise': {'type': 'gaussian', 'sigma': 25}}
    loader = build_dataloader(build_dataset(val_opt), val_opt, num_gpu=0, dist=False)
    with pytest.raises(ValueError, match=r'img001\.png: cannot decode the image \(corrupt or truncated file\?\)'):
        list(loader)


def test_recipe_without_its_data_names_every_missing_root_and_how_to_get_them_all(tmp_path, monkeypatch, make_images):
    """The paper's SwinIR recipe where only the bundled Train400 is at hand: every missing root in one line, one
    download command for all of them, and the --force_yml that uses Train400 alone (which then works)."""
    make_images(tmp_path / 'datasets' / 'Train400', 1, (80, 80))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('WNE_BASICSR_ROOT', str(tmp_path))
    recipe = ['train.py', '-opt', osp.join(REPO, 'options', 'train', 'SwinIR', 'train_SwinIR_WNE_s10.yml')]
    monkeypatch.setattr(sys, 'argv', recipe)
    with pytest.raises(SystemExit) as stop:
        train.main()
    message = str(stop.value.code)
    assert message.startswith(
        "train.py: error: datasets.train: dataroot_gt 'datasets/DIV2K/DIV2K_train_HR' does not exist, nor do "
        "'datasets/DIV2K/DIV2K_valid_HR', 'datasets/Flickr2K' and 'datasets/WaterlooExploration'; datasets.val: "
        "dataroot_gt 'datasets/Set12' does not exist")
    assert '\n' not in message and message.count('download_datasets.py') == 1
    assert '`python scripts/download_datasets.py --sets DIV2K Flickr2K Waterloo`' in message
    assert 'Set12 is bundled with the repository' in message
    assert message.endswith('or use the bundled datasets/Train400 alone: --force_yml '
                            'datasets:train:dataroot_gt=datasets/Train400')
    monkeypatch.setattr(sys, 'argv', [*recipe, '--force_yml', 'datasets:train:dataroot_gt=datasets/Train400'])
    with pytest.raises(SystemExit, match=r"error: datasets.val: dataroot_gt 'datasets/Set12' does not exist \("):
        train.main()  # the suggested override is taken: only the validation set is missing now
    assert sorted(os.listdir(tmp_path)) == ['datasets']  # stopped before any folder, log or training


def test_wrapper_without_backbone_names_the_option():
    with pytest.raises(OptionError, match=r'^WNE: option network_g.backbone is missing: give the options of the '
                                          r'network to wrap, e.g. backbone: \{type: DnCNN'):
        build_network({'type': 'WNE', 'pred_mode': 'direct'})


def test_misspelled_dataset_option_is_named_with_the_close_one(gray_folder):
    opt = {'name': 'train', 'type': 'NoisyImageDataset', 'phase': 'train', 'dataroot_gt': gray_folder, 'gt_size': 16,
           'nosie': {'type': 'gaussian', 'sigma': 25}}
    with pytest.raises(OptionError, match=r"^dataset train: unknown option 'nosie' \(did you mean noise\?\)$"):
        build_dataset(opt)
    with pytest.raises(OptionError, match=r"unknown option 'colour_space'; known options: .*dataroot_gt"):
        build_dataset({'noise': opt.pop('nosie'), **opt, 'colour_space': 'rgb'})


def test_paired_set_takes_max_images_and_refuses_a_bad_one(tmp_path, make_images):
    for side in ('noisy', 'clean'):
        make_images(tmp_path / side, 3, (20, 20), channels=3)
    opt = {'name': 'pairs', 'type': 'PairedNoisyDataset', 'phase': 'val', 'dataroot_lq': str(tmp_path / 'noisy'),
           'dataroot_gt': str(tmp_path / 'clean'), 'max_images': 2}
    assert [p['gt_path'][-10:] for p in build_dataset(opt).paths] == ['img000.png', 'img001.png']
    with pytest.raises(OptionError, match=r'^dataset pairs: max_images must be a positive integer or null, got 0$'):
        build_dataset({**opt, 'max_images': 0})
