"""Training curves read back from tensorboard logs: rows, figure and validation table."""
import pytest

from wne_basicsr.evaluation.training_curves import curves_figure, read_scalars, validation_table


def test_rows_figure_and_table(tb_runs):
    rows = read_scalars(tb_runs[0], 'SwinIR') + read_scalars(tb_runs[1], 'WNE')
    loss = [(r['step'], r['value']) for r in rows if r['run'] == 'WNE' and r['tag'] == 'losses/l_pix']
    assert loss == [(10, pytest.approx(3e-3)), (20, pytest.approx(1e-3)), (30, pytest.approx(8e-4)),
                    (40, pytest.approx(7e-4))]
    figure = curves_figure(rows)
    assert [ax.get_title() for ax in figure.axes] == ['losses/l_pix', 'Set12_sigma10', 'Set12_sigma50',
                                                       'Set12_sigma100']
    assert [[line.get_label() for line in ax.get_lines()] for ax in figure.axes] == [['SwinIR', 'WNE']] * 4
    assert list(figure.axes[2].get_lines()[1].get_ydata()) == [19.0, 25.125]
    assert figure.axes[0].get_yscale() == 'log'
    assert validation_table(rows).splitlines() == [
        '| run | iteration | Set12_sigma10 | Set12_sigma50 | Set12_sigma100 |', '|---|---|---|---|---|',
        '| SwinIR | 20 | 30.50 | 17.00 | 12.00 |', '| SwinIR | 40 | 31.25 | 18.00 | 13.00 |',
        '| WNE | 20 | 31.00 | 19.00 | 14.00 |', '| WNE | 40 | 32.50 | 25.12 | 20.12 |']


def test_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        read_scalars(str(tmp_path / 'nowhere'), 'x')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='empty: no scalars'):
        read_scalars(str(tmp_path / 'empty'), 'x')

