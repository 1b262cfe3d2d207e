"""Why normalization centres before it scales: an image, minus its minimum, minus its mean, on one colour scale.

    python scripts/shift_manipulation.py --image datasets/Set12/01.png --output results/analysis/shift_manipulation

The image is read as gray (BT.601 luma, [0, 1]) and optionally cropped (--crop top,left,height,width). The three panels
share one gray scale and one colour bar. Writes <output>/shift_<image stem>.{png,pdf}.
"""
from __future__ import annotations

import argparse
import os.path as osp

import wne_basicsr  # noqa: F401  (compat patches + registration, before anything from basicsr)
from wne_basicsr.evaluation.figure_inputs import Crop, image_stem, read_image
from wne_basicsr.evaluation.filter_figures import shift_figure
from wne_basicsr.evaluation.plots import save_figure


def main(argv: list[str] | None = None) -> None:
    """Read the image, crop it, draw the three panels and save them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--image', required=True, help='an image file (read as gray)')
    parser.add_argument('--crop', metavar='TOP,LEFT,HEIGHT,WIDTH', help='crop box in pixels (default: whole image)')
    parser.add_argument('--output', default=osp.join('results', 'analysis', 'shift_manipulation'),
                        help='output folder (default results/analysis/shift_manipulation)')
    args = parser.parse_args(argv)
    try:
        image = read_image(args.image, 'gray', '--image')[0]
        if args.crop is not None:
            crop = Crop.from_value(args.crop, '--crop')
            crop.check_inside(*image.shape, '--crop')
            image = crop.apply(image)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    title = f'{image_stem(args.image)}' + (f', crop [{args.crop}]' if args.crop else '')
    paths = save_figure(shift_figure(image.numpy(), title), osp.join(args.output, f'shift_{image_stem(args.image)}'))
    print(f'→ {paths[0]} (and .pdf)')


if __name__ == '__main__':
    main()
