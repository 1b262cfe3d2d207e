# make demo: install what is missing, train the two quick-start models, then draw their mismatch curve.
# make repro-cpu: the CPU-scale reproduction (options/repro_cpu/), then its Set12 + BSD68 sweep.
# make repro-jpeg: four CPU-scale models trained on uniform noise, then their JPEG sweep.
# make repro-swinir: SwinIR-lite and WNE(SwinIR-lite) at sigma 10 on the CPU, then their Set12 sweep and panel.
# make repro-swinir-sampler: the sampler (random inpainting) with those two models as priors.
# make repro-swinir-fair: WNE(SwinIR-lite) against the dataset-normalized SwinIR-lite: Set12 and BSD68 sweeps, panels.
# make repro-swinir-n2n-sampler: both models trained with Noise2Noise, then the sampler with them as priors.
# make test: install what is missing, then run the test suite, less its slow end-to-end tests (make test-all: all).
# make gpu-check: on a machine with a CUDA GPU, check the GPU path in one command (9 minutes at most); report in
# results/gpu_check/ (gpu_check.md and gpu_check.json).
# make print-python: the python that the commands run (see PYTHON below).
SYSTEM_PYTHON ?= python3
VENV := $(CURDIR)/.venv
# PYTHON=... when given; else SYSTEM_PYTHON where a venv is active or pip may install into it, or .venv's python where
# no venv is active and SYSTEM_PYTHON refuses pip installs (PEP 668's externally-managed Python, e.g. Debian's) or has
# no pip; `make install` creates that .venv. An existing .venv is used whenever no venv is active (tools/pick_python.py).
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(shell $(SYSTEM_PYTHON) tools/pick_python.py $(SYSTEM_PYTHON) $(VENV) 2>/dev/null),$(SYSTEM_PYTHON))
endif
PIP := $(PYTHON) -m pip

.PHONY: install demo repro-cpu repro-jpeg repro-swinir repro-swinir-sampler repro-swinir-fair repro-swinir-n2n-sampler test test-all gpu-check lint clean venv print-python

# Creates .venv where PYTHON is its python and it does not exist yet.
venv:
	@if [ "$(PYTHON)" = "$(VENV)/bin/python" ] && [ ! -x "$(VENV)/bin/python" ]; then \
	  echo "$(SYSTEM_PYTHON) refuses pip installs (PEP 668) or has no pip, and no venv is active: using $(VENV)"; \
	  $(SYSTEM_PYTHON) -m venv "$(VENV)" || { rm -rf "$(VENV)"; echo "could not create $(VENV): install python3-venv" \
	    "(e.g. sudo apt-get install python3-venv) or activate a virtual environment, then rerun"; exit 1; }; fi

# Installs only when an import fails (checked outside the repository, so the editable install must exist): torch first
# (basicsr's setup needs it present, and a setuptools that builds wheels by itself), then basicsr 1.4.2 without build
# isolation and without its tb-nightly dependency, then our runtime and test dependencies and this package (editable).
install: venv
	@(cd / && $(PYTHON) -c "import wne_basicsr, pytest, ruff, matplotlib, lmdb, timm, einops, skimage") 2>/dev/null || { \
	  $(PIP) install torch torchvision "setuptools>=70.1" && \
	  $(PIP) install --no-build-isolation --no-deps basicsr==1.4.2 && \
	  $(PIP) install -r requirements.txt -r requirements-test.txt && \
	  $(PIP) install --no-build-isolation --no-deps -e "$(CURDIR)" ; }

demo: install
	$(PYTHON) wne_basicsr/train.py -opt options/quickstart/train_DnCNN_s25.yml
	$(PYTHON) wne_basicsr/train.py -opt options/quickstart/train_DnCNN_WNE_s25.yml
	$(PYTHON) scripts/mismatch_curve.py -opt options/test/mismatch/quickstart_DnCNN_s25.yml

# The CPU-scale reproduction of the paper's sigma-25 mismatch result (about an hour on 2 cores: 23 + 19 min of training, a 19 min sweep).
repro-cpu: install
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_DnCNN_s25.yml
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_DnCNN_WNE_s25.yml
	$(PYTHON) scripts/mismatch_curve.py -opt options/test/mismatch/repro_cpu_DnCNN_s25.yml

# JPEG as an unseen degradation: four CPU-scale models trained on uniform noise at sigma 14, then their JPEG sweep.
repro-jpeg: install
	for model in DnCNN DnCNN_WNE FDnCNN_SE FDnCNN_NE; do \
	  $(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_$${model}_uniform_s14.yml || exit 1; done
	$(PYTHON) scripts/mismatch_curve.py -opt options/test/mismatch/jpeg_from_uniform_s14.yml

# SwinIR-lite vs WNE(SwinIR-lite) trained at sigma 10, then their Set12 sweep and the sigma-90 panel (76 minutes on
# 2 CPU cores with bf16: 23 + 21 minutes of training, a 32-minute sweep).
repro-swinir: install
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_SwinIR_s10.yml
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_SwinIR_WNE_s10.yml
	$(PYTHON) scripts/mismatch_curve.py -opt options/test/mismatch/repro_cpu_SwinIR_s10.yml
	$(PYTHON) scripts/compare_panels.py -opt options/test/mismatch/repro_cpu_SwinIR_s10.yml \
	  --images datasets/Set12/01.png --sigmas 90 --output results/panels/repro_cpu_SwinIR_s10

# The sampler with the two models of repro-swinir as priors on whole Set12 images 01-07: 44 + 37 minutes on 2 CPU cores
# with bf16.
repro-swinir-sampler: install
	$(PYTHON) wne_basicsr/test.py -opt options/test/sampler/random_missing_repro_cpu_SwinIR_WNE_s10.yml
	$(PYTHON) wne_basicsr/test.py -opt options/test/sampler/random_missing_repro_cpu_SwinIR_s10.yml

# The fair comparison: SwinIR-lite with a dataset-normalized input and WNE(SwinIR-lite), the same recipe at sigma 10,
# then their Set12 sweep, panels on Set12 01 and the BSD68 sweep at sigma 10, 50 and 100.
repro-swinir-fair: install
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_SwinIR_norm_s10.yml
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_SwinIR_WNE_s10.yml
	$(PYTHON) scripts/mismatch_curve.py -opt options/test/mismatch/repro_cpu_SwinIR_fair_s10.yml
	$(PYTHON) scripts/compare_panels.py -opt options/test/mismatch/repro_cpu_SwinIR_fair_s10.yml \
	  --images datasets/Set12/01.png --sigmas 10 90 --output results/panels/repro_cpu_SwinIR_fair_s10
	$(PYTHON) scripts/mismatch_curve.py -opt options/test/mismatch/repro_cpu_SwinIR_fair_s10_BSD68.yml

# Noise2Noise priors (noisy pairs only, sigma 10) of both models of repro-swinir-fair, then the sampler with each on
# whole Set12 images 01-07 (random inpainting, 10 % of the pixels kept).
repro-swinir-n2n-sampler: install
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_SwinIR_norm_N2N_s10.yml
	$(PYTHON) wne_basicsr/train.py -opt options/repro_cpu/train_SwinIR_WNE_N2N_s10.yml
	$(PYTHON) wne_basicsr/test.py -opt options/test/sampler/random_missing_repro_cpu_SwinIR_WNE_N2N_s10.yml
	$(PYTHON) wne_basicsr/test.py -opt options/test/sampler/random_missing_repro_cpu_SwinIR_norm_N2N_s10.yml

test: install
	$(PYTHON) -m pytest tests

# Also the end-to-end tests marked slow (multi-process and multi-node training, crash and resume, install, compile).
test-all: install
	$(PYTHON) -m pytest -m "" tests

gpu-check: install
	$(PYTHON) benchmarks/gpu_check.py --output results/gpu_check

lint:
	$(PYTHON) -m ruff check .

print-python:
	@echo $(PYTHON)

clean:
	rm -rf experiments tb_logger results .pytest_cache
