"""Checkpoint files of the models: BasicSR's names and contents, written atomically, read with errors that name the
option and the file."""
from __future__ import annotations

import glob
import os
import os.path as osp
import time

import torch
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from torch import nn

from wne_basicsr.errors import OptionError
from wne_basicsr.models.load_errors import fitting_state

PARTIAL_SUFFIX = '.partial'  # temporary checkpoint files: never matched as *.state or *.pth


class CheckpointIO:
    """Mixin of a BasicSR model: ``models/<label>_<iter>.pth`` and ``training_states/<iter>.state`` written to a
    temporary file and renamed (a killed run never leaves a torn file), and strict loading with clear errors."""

    @master_only
    def save_network(self, net: nn.Module | list[nn.Module], net_label: str, current_iter: int,
                     param_key: str | list[str] = 'params') -> None:
        """BasicSR's ``models/<label>_<iter>.pth`` ({param_key: CPU state dict}; -1 → latest), written atomically."""
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys')
        save_dict = {}
        for net_, key in zip(nets, keys):
            state_dict = self.get_bare_model(net_).state_dict()
            for name in list(state_dict):
                # contiguous: a channels-last run writes the same file as any other
                state_dict[name.removeprefix('module.')] = state_dict.pop(name).cpu().contiguous()
            save_dict[key] = state_dict
        label = 'latest' if current_iter == -1 else current_iter
        self.atomic_save(save_dict, osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    @master_only
    def save_training_state(self, epoch: int, current_iter: int) -> None:
        """BasicSR's ``training_states/<iter>.state`` (epoch, iter, optimizer and scheduler states, and the fp16
        gradient scaler's state when there is one), atomically."""
        folder = self.opt['path']['training_states']
        if current_iter == -1:
            self.remove_partial_files(folder)
            return
        state = {'epoch': epoch, 'iter': current_iter, 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers]}
        if getattr(self, 'grad_scaler', None) is not None:
            state['grad_scaler'] = self.grad_scaler.state_dict()
        self.atomic_save(state, osp.join(folder, f'{current_iter}.state'))

    def resume_training(self, resume_state: dict) -> None:
        """BasicSR's optimizer and scheduler states, and the gradient scaler's if both the state and this run have
        one (a state saved without it, by an older version or a run in another precision, keeps a fresh scaler)."""
        super().resume_training(resume_state)
        scaler_state = resume_state.get('grad_scaler')
        if getattr(self, 'grad_scaler', None) is not None and scaler_state:
            self.grad_scaler.load_state_dict(scaler_state)

    @staticmethod
    def remove_partial_files(folder: str) -> None:
        """Delete the temporary files that a save killed before its rename left in ``folder``."""
        for path in glob.glob(osp.join(glob.escape(folder), f'.*{PARTIAL_SUFFIX}')):
            os.remove(path)

    @classmethod
    def atomic_save(cls, obj: object, path: str, retries: int = 3) -> None:
        """``torch.save`` to a hidden ``.partial`` file beside ``path``, fsync, then rename over ``path``.

        Readers see the old file or the complete new one; like BasicSR, failures are retried and then only logged.
        """
        folder, name = osp.split(path)
        cls.remove_partial_files(folder)
        tmp = osp.join(folder, f'.{name}.{os.getpid()}{PARTIAL_SUFFIX}')  # never ends in .state or .pth
        for retry in range(retries - 1, -1, -1):
            try:
                with open(tmp, 'wb') as f:
                    torch.save(obj, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except Exception as err:
                get_root_logger().warning(f'Cannot save {path}: {err}; remaining retries: {retry}')
                if osp.exists(tmp):
                    os.remove(tmp)
                if retry:
                    time.sleep(1)
            else:
                if os.name == 'posix':  # make the rename itself durable
                    dir_fd = os.open(folder or '.', os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
                return
        get_root_logger().warning(f'Still cannot save {path}; the previous file, if any, is intact.')

    def load_network(self, net: nn.Module, load_path: str, strict: bool = True,
                     param_key: str | None = 'params') -> None:
        """BasicSR's loading, with errors that name the option and file: missing, unreadable, wrong key or shapes."""
        option = next((f'path.{k}' for k, v in self.opt['path'].items() if v == load_path), 'checkpoint')
        where = f'{option}: {load_path}'
        if not osp.isfile(load_path):
            raise FileNotFoundError(f'{where}: no such checkpoint file')
        try:
            checkpoint = torch.load(load_path, map_location='cpu', weights_only=True)
        except Exception as err:
            raise OptionError(f'{where}: cannot read the checkpoint ({type(err).__name__}: {err})') from err
        if not isinstance(checkpoint, dict):
            raise OptionError(f'{where}: expected a dict of state dicts, got {type(checkpoint).__name__}')
        if param_key is not None:
            if param_key not in checkpoint and 'params' in checkpoint:
                get_root_logger().info(f'Loading: {param_key} does not exist, use params.')
                param_key = 'params'
            if param_key not in checkpoint:
                raise OptionError(f'{where}: no {param_key!r} entry (it holds {sorted(checkpoint)[:8]}); '
                                  'set path.param_key_g to one of them')
            checkpoint = checkpoint[param_key]
        state = {k.removeprefix('module.'): v for k, v in checkpoint.items()}
        net = self.get_bare_model(net)
        get_root_logger().info(f'Loading {type(net).__name__} model from {load_path}, with param key: [{param_key}].')
        state = fitting_state(net, state, where, f'network_g (type {self.opt["network_g"]["type"]})', strict)
        net.load_state_dict(state, strict=strict)
