"""Command line over course/install.py (the Colab installer): the same plan the notebooks use.

    python tools/colab_setup.py ch02_transformer          # the chapter's bootstrap install (acts only on Colab)
    python tools/colab_setup.py --gpu ch07-quant          # requirements-gpu/ch07-quant.txt
    python tools/colab_setup.py --plan ch07_quantization  # print the plan, install nothing

In a notebook use `course.install_chapter(...)` / `course.install_gpu_set(...)` instead: they see the kernel's
imported packages, which a separate process cannot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from course import install as ci


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", nargs="?", help="chapter folder, e.g. ch02_transformer")
    parser.add_argument("--gpu", metavar="NAME", help="install requirements-gpu/NAME.txt")
    parser.add_argument("--plan", action="store_true", help="print the plan only")
    args = parser.parse_args(argv)
    if not args.chapter and not args.gpu:
        parser.error("a chapter or --gpu NAME")
    env = ci.Env.current()
    plan = ci.plan_gpu_set(args.gpu, env) if args.gpu else ci.plan_chapter(ci.chapter_name(args.chapter), env)
    if args.plan:
        print(f"{plan.what} (Colab: {env.on_colab}): install {plan.install or 'nothing'}")
        for name, (have, pinned) in sorted(plan.kept.items()):
            print(f"  keep {name} {have} (pin {pinned})")
        for line, reason in plan.upgrades.items():
            print(f"  upgrade {line}: {reason}")
        return 0
    try:
        if args.gpu:
            ci.install_gpu_set(args.gpu, env=env)
        else:
            ci.install_chapter(args.chapter, env=env)
    except ci.InstallError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
