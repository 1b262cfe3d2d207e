"""Training logs: a run shorter than ``logger.print_freq`` still logs its last iteration, on the console and in
tensorboard."""
import logging

from wne_basicsr import pipelines

# isort: split
from basicsr.models import build_model


class RecordingWriter:
    """A tensorboard writer that keeps the scalars it is given."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, step))


class KeptLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_run_shorter_than_print_freq_logs_its_last_iteration(tmp_path, make_images):
    make_images(tmp_path / 'train', 2, (24, 24))
    opt = {
        'name': 'short', 'model_type': 'DenoisingModel', 'num_gpu': 0, 'manual_seed': 0, 'is_train': True,
        'dist': False, 'rank': 0, 'world_size': 1,
        'datasets': {'train': {'name': 'tiny', 'type': 'NoisyImageDataset', 'dataroot_gt': str(tmp_path / 'train'),
                               'noise': {'type': 'gaussian', 'sigma': 25}, 'gt_size': 16, 'phase': 'train',
                               'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'prefetch_mode': None}},
        'network_g': {'type': 'DnCNN', 'num_feat': 4, 'num_layers': 2},
        'path': {'pretrain_network_g': None, 'models': str(tmp_path / 'models'),
                 'training_states': str(tmp_path / 'states')},
        'train': {'total_iter': 3, 'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'pixel_opt': {'type': 'MSELoss'},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5}},
        'logger': {'print_freq': 100, 'save_checkpoint_freq': 100, 'use_tb_logger': True},
    }
    (tmp_path / 'models').mkdir()
    (tmp_path / 'states').mkdir()
    logger = logging.getLogger('basicsr')
    kept, level = KeptLines(), logger.level
    logger.addHandler(kept)
    logger.setLevel(logging.INFO)
    writer = RecordingWriter()
    try:
        loaders = pipelines.create_train_loaders(opt, logger)
        loop = pipelines.TrainingLoop(opt, build_model(opt), loaders, pipelines.make_prefetcher(opt, loaders.train),
                                      writer, logger)
        loop.run(3)
    finally:
        logger.removeHandler(kept)
        logger.setLevel(level)
    logged = [line for line in kept.lines if 'l_pix:' in line]
    assert len(logged) == 1 and 'iter:       3,' in logged[0] and 'psnr_train:' in logged[0]
    assert ('losses/l_pix', 3) in writer.scalars and ('psnr_train', 3) in writer.scalars
