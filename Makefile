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

lab: $(READY)
	$(VENV)/bin/jupyter lab --notebook-dir=.

test: $(READY)
	$(PY) -m pytest $(PYTEST_ARGS)

# 배지/부트스트랩 셀을 pyproject.toml 의 저장소 주소로 다시 찍는다.
stamp: $(READY)
	$(PY) tools/stamp_notebooks.py

clean-venv:
	rm -rf $(VENV)
