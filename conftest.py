# 스모크 월드 pytest 플러그인 (tests/world/plugin.py): 노트북/테스트 모두에 적용된다.
pytest_plugins = ["tests.world.plugin"]
