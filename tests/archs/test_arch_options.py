"""Arch options checked against the arch's ``__init__`` before it is built: a misspelled or missing argument is an
OptionError naming the option path, the close argument and the accepted ones; a bug inside an arch stays a bug."""
import pytest
from torch import nn

import wne_basicsr  # noqa: F401
import wne_basicsr.models  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.models import build_model
from basicsr.utils.registry import ARCH_REGISTRY

from wne_basicsr.errors import OptionError
from wne_basicsr.evaluation.sweep_config import ModelSpec
from wne_basicsr.registry_errors import check_arch_options
from wne_basicsr.startup import StartupError, prepared

DNCNN_ARGUMENTS = 'its arguments are num_in_ch, num_feat, num_layers, bias_free'


def model_options(network: dict) -> dict:
    return {'name': 'arch', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': False,
            'dist': False, 'rank': 0, 'world_size': 1, 'datasets': {}, 'network_g': network,
            'path': {'pretrain_network_g': None, 'strict_load_g': True}}


def test_misspelled_argument_of_network_g_names_the_option_the_close_one_and_the_arguments():
    with pytest.raises(OptionError, match=rf"^network_g: DnCNN has no argument 'num_in_chh' \(did you mean "
                                          rf'num_in_ch\?\); {DNCNN_ARGUMENTS}$'):
        build_model(model_options({'type': 'DnCNN', 'num_in_chh': 1}))


def test_misspelled_backbone_argument_names_network_g_backbone():
    with pytest.raises(OptionError, match=rf"^network_g.backbone: DnCNN has no arguments 'num_fet' \(did you mean "
                                          rf"num_feat\?\), 'zzz'; {DNCNN_ARGUMENTS}$"):
        build_network({'type': 'WNE', 'backbone': {'type': 'DnCNN', 'num_fet': 8, 'zzz': 1}})
    with pytest.raises(OptionError, match=r"^network_g: WNE has no argument 'pad_multple' \(did you mean "
                                          r'pad_multiple\?\); its arguments are backbone, pred_mode, std_mode, '
                                          r'pad_multiple$'):
        build_model(model_options({'type': 'WNE', 'pad_multple': 8, 'backbone': {'type': 'DnCNN'}}))


def test_missing_required_argument_and_missing_type_are_named():
    with pytest.raises(OptionError, match=r'^network_g: RRDBNet needs the argument num_out_ch; its arguments are '
                                          r'num_in_ch, num_out_ch, scale'):
        check_arch_options({'type': 'RRDBNet', 'num_in_ch': 1}, 'network_g')
    with pytest.raises(OptionError, match=r'^option network_g must be an arch\'s options with a "type" key'):
        build_model(model_options({'num_feat': 8}))


def test_archs_taking_kwargs_and_unregistered_types_are_left_to_their_own_checks():
    check_arch_options({'type': 'SwinIRDenoiser', 'anything': 1}, 'network_g')  # **kwargs: not checked
    check_arch_options({'type': 'NoSuchArch', 'num_feat': 8}, 'network_g')  # the registry's own error follows
    check_arch_options({'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}, 'network_g')  # fits: nothing raised


def test_sweep_model_entry_names_its_network_g(tmp_path):
    entry = {'network_g': {'type': 'FDnCNN', 'moed': 'norm_equiv'}, 'checkpoint': str(tmp_path / 'net.pth')}
    with pytest.raises(OptionError, match=r"^models.fd.network_g: FDnCNN has no argument 'moed' \(did you mean "
                                          r'mode\?\)'):
        ModelSpec.from_opt('fd', entry)


class BuggyArch(nn.Module):
    """An arch whose options fit its signature but whose ``__init__`` has a bug (a wrong keyword argument)."""

    def __init__(self, num_feat: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, num_feat, 3, padd=1)


def test_a_type_error_inside_an_arch_keeps_its_traceback(monkeypatch, capsys):
    monkeypatch.setitem(ARCH_REGISTRY._obj_map, 'BuggyArch', BuggyArch)
    with pytest.raises(StartupError, match="unexpected keyword argument 'padd'"), prepared([]):
        build_network({'type': 'WNE', 'backbone': {'type': 'BuggyArch', 'num_feat': 4}})
    assert 'Traceback (most recent call last)' in capsys.readouterr().err
