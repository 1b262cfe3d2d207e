"""wne_basicsr/resume.py: every process of a distributed run resumes from the same training state, or none starts."""
import pytest
import torch

from wne_basicsr import resume


def gathering(other: int | None):
    """A stand-in for ``dist.all_gather_object`` in a 2-process group whose other process found ``other``."""
    def gather(found: list, mine: int | None) -> None:
        found[:] = [mine, other]
    return gather


def test_processes_that_found_different_states_are_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(resume.dist, 'all_gather_object', gathering(None))
    with pytest.raises(FileNotFoundError, match=r'\(rank 0: iter 4, rank 1: nothing\): every machine must see the '
                                                r'same experiments folder \(a shared file system\)'):
        resume.same_resume_point({'world_size': 2, 'name': 'run'}, 4)


@pytest.mark.parametrize('found', [4, None])
def test_processes_that_agree_go_on(monkeypatch, found):
    monkeypatch.setattr(resume.dist, 'all_gather_object', gathering(found))
    resume.same_resume_point({'world_size': 2, 'name': 'run'}, found)


def test_a_distributed_auto_resume_compares_the_newest_state_of_each_process(monkeypatch, tmp_path):
    states = tmp_path / 'training_states'
    states.mkdir()
    torch.save({'iter': 8, 'epoch': 0}, states / '8.state')
    monkeypatch.setattr(resume.dist, 'all_gather_object', gathering(None))  # the other machine has no copy
    opt = {'auto_resume': True, 'dist': True, 'world_size': 2, 'name': 'run', 'num_gpu': 0, 'is_train': True,
           'path': {'training_states': str(states), 'models': str(tmp_path / 'models'), 'resume_state': None},
           'network_g': {'type': 'DnCNN'}}
    with pytest.raises(FileNotFoundError, match=r'rank 0: iter 8, rank 1: nothing'):
        resume.load_resume_state(opt)
