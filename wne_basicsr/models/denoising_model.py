"""DenoisingModel: BasicSR's SRModel for lq→gt denoising, CPU-capable DDP, validation on the bare network."""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict

import torch
import torch.nn.functional as F
from basicsr.metrics import calculate_metric
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.registry import METRIC_REGISTRY, MODEL_REGISTRY
from torch import Tensor, nn
from torch.nn.parallel import DataParallel, DistributedDataParallel
from tqdm import tqdm

from wne_basicsr.archs.wrapper_arch import pad_to_multiple, window_multiple

COLOR_CHANNELS = {'gray': 1, 'rgb': 3}


def input_channels(net: nn.Module) -> int | None:
    """Input channel count of a network: that of its first 4-D (convolution) weight, if any."""
    return next((p.shape[1] for p in net.parameters() if p.dim() == 4), None)


@MODEL_REGISTRY.register()
class DenoisingModel(SRModel):
    """Trains a denoiser on (lq, gt) pairs and validates each ``val*`` set on the bare (or EMA) network."""

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        self._check_colors()

    def _check_colors(self) -> None:
        """Fail early when a dataset's ``color`` does not match the network's input channels."""
        channels = input_channels(self.get_bare_model(self.net_g))
        for name, dataset_opt in (self.opt.get('datasets') or {}).items():
            color = dataset_opt.get('color', 'gray')
            if channels is not None and COLOR_CHANNELS.get(color, channels) != channels:
                raise ValueError(f'datasets.{name}: color={color!r} gives {COLOR_CHANNELS[color]}-channel images, but '
                                 f'network_g ({self.opt["network_g"]["type"]}) takes {channels} channel(s); set the '
                                 f'backbone\'s input channels (num_in_ch / in_chans / inp_channels) or the color')

    def model_to_device(self, net: nn.Module) -> nn.Module:
        """Move to the device; wrap in DDP (also on CPU, with no ``device_ids``) or DataParallel."""
        net = net.to(self.device)
        if self.opt['dist']:
            find_unused = self.opt.get('find_unused_parameters', False)
            device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
            return DistributedDataParallel(net, device_ids=device_ids, find_unused_parameters=find_unused)
        if self.opt['num_gpu'] > 1:
            return DataParallel(net)
        return net

    def feed_data(self, data: dict) -> None:
        self.lq = data['lq'].to(self.device)
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)
        self.clean = data['clean'].to(self.device) if 'clean' in data else None

    def inference_network(self) -> nn.Module:
        """The network validation runs: the EMA copy if any, else the bare net_g (never the DDP wrapper)."""
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)

    def denoise(self, x: Tensor) -> Tensor:
        """Run the inference network in eval mode on whole images, padded to its window multiple and cropped back."""
        net = self.inference_network()
        was_training = net.training
        net.eval()
        with torch.no_grad():
            padded, h, w = pad_to_multiple(x, window_multiple(net))
            out = net(padded)[..., :h, :w]
        net.train(was_training)
        return out

    def test(self) -> None:
        self.output = self.denoise(self.lq)

    def optimize_parameters(self, current_iter: int) -> None:
        self.optimizer_g.zero_grad()
        self.output = self.net_g(self.lq)
        loss_dict = OrderedDict()
        l_pix = self.cri_pix(self.output, self.gt)
        loss_dict['l_pix'] = l_pix
        l_pix.backward()
        self.optimizer_g.step()
        with torch.no_grad():
            reference = self.clean if self.clean is not None else self.gt
            mse = F.mse_loss(self.output.detach().clamp(0, 1), reference).clamp_min(1e-10)
            loss_dict['psnr_train'] = -10 * torch.log10(mse)
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img: bool) -> None:
        """Validate on one set: tensor metrics (float PSNR) on [0, 1] outputs, BasicSR metrics on uint8 images."""
        dataset_name = dataloader.dataset.opt['name']
        metrics = self.opt['val'].get('metrics') or {}
        if metrics:
            self._initialize_best_metric_results(dataset_name)
        self.metric_results = {name: 0.0 for name in metrics}
        pbar = tqdm(total=len(dataloader), unit='image', desc=dataset_name) if self.opt['val'].get('pbar') else None
        count = 0
        for val_data in dataloader:
            img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
            self.feed_data(val_data)
            self.test()
            output = self.output.detach().cpu().clamp(0, 1)
            gt = self.gt.detach().cpu() if hasattr(self, 'gt') else None
            sr_img = tensor2img([output])
            gt_img = tensor2img([gt]) if gt is not None else None
            for name, metric_opt in metrics.items():
                self.metric_results[name] += self._metric(metric_opt, output, gt, sr_img, gt_img)
            if save_img:
                imwrite(sr_img, self._image_path(dataset_name, img_name, current_iter))
            del self.lq, self.output
            if hasattr(self, 'gt'):
                del self.gt
            count += 1
            if pbar is not None:
                pbar.update(1)
        if pbar is not None:
            pbar.close()
        if metrics and count:
            for name in self.metric_results:
                self.metric_results[name] /= count
                self._update_best_metric_result(dataset_name, name, self.metric_results[name], current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        elif not count:
            get_root_logger().warning(f'Validation set {dataset_name} is empty')

    @staticmethod
    def _metric(metric_opt: dict, output: Tensor, gt: Tensor | None, sr_img, gt_img) -> float:
        if gt is None:
            raise ValueError('val.metrics need ground truth, but the validation set returned no "gt"')
        fn = METRIC_REGISTRY.get(metric_opt['type'])
        if getattr(fn, 'takes_tensors', False):
            return calculate_metric({'img': output, 'img2': gt}, metric_opt)
        return calculate_metric({'img': sr_img, 'img2': gt_img}, metric_opt)

    def _image_path(self, dataset_name: str, img_name: str, current_iter) -> str:
        if self.opt['is_train']:
            return osp.join(self.opt['path']['visualization'], img_name, f'{img_name}_{current_iter}.png')
        suffix = self.opt['val'].get('suffix') or self.opt['name']
        return osp.join(self.opt['path']['visualization'], dataset_name, f'{img_name}_{suffix}.png')
