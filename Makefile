# 두 명령: `make lab` (주피터랩), `make test` (스모크 월드에서 전체 테스트). 새 머신에서도 각각 혼자 동작한다.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
READY  := $(VENV)/.installed

.PHONY: lab test venv stamp clean-venv

venv: $(READY)

$(READY): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip check
	touch $(READY)

# 컨테이너처럼 root 로 돌 때 JupyterLab 은 --allow-root 가 있어야 뜬다 (일반 사용자에게는 붙이지 않는다)
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(READY)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(LAB_ROOT)

test: $(READY)
	$(PY) -m pytest $(PYTEST_ARGS)

# 배지/부트스트랩 셀을 pyproject.toml 의 저장소 주소로 다시 찍는다.
stamp: $(READY)
	$(PY) tools/stamp_notebooks.py

# nbval-check-output 셀의 출력을 스모크 월드에서 다시 만들어 저장합니다 (다른 셀의 출력은 지움). NB=ch02_transformer/ch02.ipynb 로 하나만.
NB ?= $(shell grep -l nbval-check-output ch*/ch*.ipynb)
.PHONY: outputs
outputs: $(READY)
	$(PY) tools/refresh_outputs.py $(NB)

clean-venv:
	rm -rf $(VENV)

# 패키지 저장소가 필요한 검사 (CI 의 설치 단계, 네트워크 격리 전): Colab 모델과 GPU 세트 해석.
.PHONY: colab-model gpu-sets gpu-check
colab-model: $(READY)
	$(PY) tools/colab_model.py

gpu-sets: $(READY)
	COURSE_REGISTRY=1 $(PY) -m pytest -m registry -p no:xdist -q -s tests/test_gpu_sets.py

# GPU 머신에서 한 번에: GPU 세트 설치 + 모든 gpu 셀 (스모크 월드, 약 10분). GPU_CHECK_ARGS=--dry-run 은 목록만.
gpu-check: $(READY)
	$(PY) tools/gpu_check.py $(GPU_CHECK_ARGS)
