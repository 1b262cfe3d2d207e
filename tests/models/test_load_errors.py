"""A checkpoint that does not fit its network: one line (no flood of per-key warnings), and a hint when one side's keys
carry the wrappers' ``backbone.`` prefix."""
import logging

import pytest
import torch

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.archs import build_network
from basicsr.models import build_model

from wne_basicsr.option_checks import OptionError

DNCNN = {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3}
WNE = {'type': 'WNE', 'backbone': DNCNN}


class Records(logging.Handler):
    """The records of BasicSR's logger (it does not propagate, so pytest's caplog misses them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def basicsr_log():
    handler = Records()
    logger = logging.getLogger('basicsr')
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def load(tmp_path, saved: dict, network: dict, strict: bool = True):
    """Build a DenoisingModel of ``network`` that loads a checkpoint of ``saved``."""
    path = tmp_path / 'net_g.pth'
    torch.save({'params': build_network(dict(saved)).state_dict()}, path)
    return build_model({'name': 'load', 'model_type': 'DenoisingModel', 'scale': 1, 'num_gpu': 0, 'is_train': False,
                        'dist': False, 'rank': 0, 'world_size': 1, 'datasets': {}, 'network_g': network,
                        'path': {'pretrain_network_g': str(path), 'strict_load_g': strict}})


def test_wne_checkpoint_in_a_bare_network_is_one_line_naming_the_prefix(tmp_path, basicsr_log):
    with pytest.raises(OptionError) as err:
        load(tmp_path, WNE, DNCNN)
    message = str(err.value)
    assert '\n' not in message and message.startswith('path.pretrain_network_g: ')
    assert 'does not fit network_g (type DnCNN): its keys carry the wrapper prefix "backbone."' in message
    assert 'set network_g to the wrapper it was trained with (type: WNE' in message
    assert [r.getMessage() for r in basicsr_log if r.levelno >= logging.WARNING] == []


def test_bare_checkpoint_in_a_wrapper_says_so(tmp_path, basicsr_log):
    with pytest.raises(OptionError, match=r'the network\'s keys carry the wrapper prefix "backbone." and the '
                                          r'checkpoint\'s do not .*set network_g to the bare network'):
        load(tmp_path, DNCNN, WNE)
    assert not [r for r in basicsr_log if r.levelno >= logging.WARNING]


def test_loose_loading_warns_once_and_loads_what_fits(tmp_path, basicsr_log):
    saved = {**DNCNN, 'num_in_ch': 3, 'num_layers': 4}  # 3 other shapes (first and last layer), one more layer
    model = load(tmp_path, saved, DNCNN, strict=False)
    warnings = [r.getMessage() for r in basicsr_log if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and 'strict_load_g is false' in warnings[0]
    assert 'unexpected in it' in warnings[0] and '3 shapes differ' in warnings[0]
    params = torch.load(tmp_path / 'net_g.pth', weights_only=True)['params']
    assert torch.equal(model.net_g.hidden_layer_list[0].weight.detach(), params['hidden_layer_list.0.weight'])
    assert model.net_g.first_layer.weight.shape == (8, 1, 3, 3)
