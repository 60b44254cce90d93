"""AutoGen 의 `LocalCommandLineCodeExecutor` 에 세 가지 한계를 더한 실행기 (샌드박스는 아닙니다).

    from code_executor import SaferLocalCommandLineCodeExecutor
    executor = SaferLocalCommandLineCodeExecutor(work_dir="coding", timeout=10, max_output_bytes=20_000)
    result = await executor.execute_code_blocks([CodeBlock(language="python", code="print(1)")], token)

원래 실행기(autogen-ext 0.7.5)의 빈틈과 여기서 고친 것:
- 시간 제한: 원래는 SIGTERM 을 프로세스 하나에만 보내고 끝날 때까지 기다립니다. SIGTERM 을 무시하는 코드는
  영원히 돌고, fork 한 자식은 살아남습니다. 여기서는 코드를 새 세션(프로세스 그룹)에서 시작하고, 시간이 지나면
  그룹 전체에 SIGTERM, 잠깐(kill_grace_s) 뒤에도 남아 있으면 SIGKILL 을 보냅니다. 코드가 정상 종료해도
  그룹에 남은 프로세스(백그라운드로 fork 한 자식)는 같은 방법으로 정리합니다.
- 출력 상한: 원래는 출력을 전부 메모리에 모읍니다 (출력 폭주 -> 메모리 폭주, 응답 없음). 여기서는 stdout+stderr 를
  합쳐 max_output_bytes 까지만 읽고, 넘치면 잘랐다는 안내를 붙이고 프로세스 그룹을 멈춥니다 (종료 코드 1).
- 환경 변수: 원래는 커널의 환경(OPENAI_API_KEY 등)을 그대로 물려줍니다. 여기서는 허용 목록(PATH, HOME, LANG,
  임시 폴더, PYTHONPATH 등)만 넘기고, 이름이 비밀처럼 보이는 것(*KEY*, *TOKEN*, *SECRET*, OPENAI_* ...)은
  허용 목록에 있어도 뺍니다. 꼭 필요한 값은 extra_env 로 명시해서 넘깁니다.

여전히 샌드박스가 아닙니다: 코드는 같은 사용자 권한으로 돌고, 파일 시스템 전체를 읽고 쓸 수 있고(~/.netrc,
토큰 캐시 파일 포함), 네트워크도 열려 있고, setsid() 로 그룹을 빠져나갈 수도 있습니다. LLM 이 쓴 코드를 믿을 수
없을 때는 `DockerCommandLineCodeExecutor` (autogen_ext.code_executors.docker) 같은 컨테이너 실행기를 씁니다.
POSIX(리눅스, macOS, Colab) 전용입니다.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from collections.abc import Iterable, Mapping
from hashlib import sha256
from pathlib import Path
from typing import Any

from autogen_core import CancellationToken
from autogen_core.code_executor import CodeBlock
from autogen_ext.code_executors._common import (
    PYTHON_VARIANTS,
    CommandLineCodeResult,
    get_file_name_from_content,
    lang_to_cmd,
    silence_pip,
)
from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_ENV_ALLOWLIST", "SaferLocalCommandLineCodeExecutor", "clean_environment", "looks_secret"]

TIMEOUT_EXIT_CODE = 124
CANCELLED_EXIT_CODE = 125
OUTPUT_LIMIT_EXIT_CODE = 1

# 실행에 필요한 것만: 명령 찾기, 홈/로캘/시간대, 임시 폴더, 파이썬 경로와 가상환경, 그림 백엔드 (Windows 이름 포함)
DEFAULT_ENV_ALLOWLIST = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TEMP", "TMP",
                         "PYTHONPATH", "PYTHONIOENCODING", "VIRTUAL_ENV", "MPLBACKEND", "SYSTEMROOT", "COMSPEC",
                         "PATHEXT")
# 로캘(LC_*)과 이 강좌의 설정(COURSE_QUICK, 테스트의 네트워크 가드 COURSE_NETGUARD* 등; 비밀처럼 보이는 이름은 빠짐)
_ALLOWED_PREFIXES = ("LC_", "COURSE_")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|"
                          r"^(OPENAI|ANTHROPIC|AZURE|AWS|GOOGLE|GEMINI|HF|HUGGING|PINECONE|COHERE|GROQ)_", re.IGNORECASE)


def looks_secret(name: str) -> bool:
    """True for environment variable names that usually hold credentials."""
    return bool(_SECRET_NAME.search(name))


def clean_environment(environ: Mapping[str, str] | None = None, allow: Iterable[str] = DEFAULT_ENV_ALLOWLIST,
                      extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed variables of `environ` (LC_* and COURSE_* too), minus secret-looking names, plus `extra`.

    `extra` is passed as given (an explicit choice of the caller), so a value you really need reaches the code.
    """
    environ = os.environ if environ is None else environ
    allowed = set(allow)
    env = {name: value for name, value in environ.items()
           if (name in allowed or name.startswith(_ALLOWED_PREFIXES)) and not looks_secret(name)}
    env["PYTHONUNBUFFERED"] = "1"  # output written before a timeout still reaches the result
    env.update(extra or {})
    return env


class SaferLocalCommandLineCodeExecutor(LocalCommandLineCodeExecutor):
    """LocalCommandLineCodeExecutor with a process-group kill on timeout, an output cap and a clean environment.

    Args (besides those of LocalCommandLineCodeExecutor):
        max_output_bytes: stdout + stderr kept per code block; beyond it the output is cut with a note and the
            process group is stopped (exit code 1).
        kill_grace_s: seconds between SIGTERM and SIGKILL to the process group.
        env_allowlist: names of environment variables the code may see (secret-looking names are dropped anyway).
        extra_env: variables added explicitly (not filtered).
    """

    def __init__(self, *args: Any, max_output_bytes: int = 64_000, kill_grace_s: float = 0.5,
                 env_allowlist: Iterable[str] = DEFAULT_ENV_ALLOWLIST, extra_env: Mapping[str, str] | None = None,
                 **kwargs: Any):
        if sys.platform == "win32":  # pragma: no cover - process groups and killpg are POSIX
            raise RuntimeError("SaferLocalCommandLineCodeExecutor 는 POSIX(리눅스, macOS) 전용입니다")
        if max_output_bytes < 1:
            raise ValueError("max_output_bytes must be at least 1")
        super().__init__(*args, **kwargs)
        self._max_output_bytes = int(max_output_bytes)
        self._kill_grace_s = float(kill_grace_s)
        self._env_allowlist = tuple(env_allowlist)
        self._extra_env = dict(extra_env or {})

    @property
    def max_output_bytes(self) -> int:
        return self._max_output_bytes

    def environment(self) -> dict[str, str]:
        """The environment each code block runs with."""
        env = clean_environment(os.environ, self._env_allowlist, self._extra_env)
        if self._virtual_env_context:
            venv_bin = os.path.abspath(self._virtual_env_context.bin_path)
            env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    async def _execute_code_dont_check_setup(self, code_blocks: list[CodeBlock],
                                             cancellation_token: CancellationToken) -> CommandLineCodeResult:
        logs_all, file_names, exitcode = "", [], 0
        for code_block in code_blocks:
            lang = code_block.language.lower()
            code = silence_pip(code_block.code, lang)
            if lang in PYTHON_VARIANTS:
                lang = "python"
            if lang not in self.SUPPORTED_LANGUAGES:
                exitcode = 1
                logs_all += "\n" + f"unknown language {lang}"
                break
            try:
                filename = get_file_name_from_content(code, self.work_dir)
            except ValueError:
                return CommandLineCodeResult(exit_code=1, output="Filename is not in the workspace", code_file=None)
            if filename is None:
                ext = "py" if lang == "python" else ("ps1" if lang in ("pwsh", "powershell", "ps1") else lang)
                filename = f"tmp_code_{sha256(code.encode()).hexdigest()}.{ext}"
            written_file = (self.work_dir / filename).resolve()
            written_file.write_text(code, encoding="utf-8")
            file_names.append(written_file)
            exitcode, output = await self._run_one(self._command(lang, written_file), cancellation_token)
            logs_all += output
            if exitcode != 0:
                break
        code_file = str(file_names[0]) if file_names else None
        if self._cleanup_temp_files:
            for file in file_names:
                try:
                    file.unlink(missing_ok=True)
                except OSError as error:
                    log.error("Failed to delete temporary file %s: %s", file, error)
        return CommandLineCodeResult(exit_code=exitcode, output=logs_all, code_file=code_file)

    def _command(self, lang: str, file: Path) -> list[str]:
        if lang == "python":
            program = (os.path.abspath(self._virtual_env_context.env_exe) if self._virtual_env_context
                       else sys.executable)
            return [program, str(file)]
        program = lang_to_cmd(lang)
        if program == "pwsh":
            return [program, "-NoProfile", "-ExecutionPolicy", "Bypass", "-File", str(file)]
        return [program, str(file)]

    async def _run_one(self, command: list[str], cancellation_token: CancellationToken) -> tuple[int, str]:
        """Run one command in its own session; returns (exit code, stderr + stdout, possibly cut, plus notes)."""
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=self.work_dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=self.environment(), start_new_session=True)
        streams = {"stderr": bytearray(), "stdout": bytearray()}
        state = {"seen": 0}
        overflow = asyncio.Event()

        async def pump(stream: asyncio.StreamReader, buffer: bytearray) -> None:
            # keeps reading (and dropping) past the cap until EOF: a full, unread pipe would leave the
            # child blocked and the transport waiting for a close that never comes
            while chunk := await stream.read(65_536):
                room = self._max_output_bytes - sum(len(b) for b in streams.values())
                buffer += chunk[:max(room, 0)]
                state["seen"] += len(chunk)
                if state["seen"] > self._max_output_bytes:
                    overflow.set()

        readers = asyncio.ensure_future(asyncio.gather(pump(proc.stdout, streams["stdout"]),
                                                       pump(proc.stderr, streams["stderr"])))
        finished = asyncio.ensure_future(self._finish(proc, readers))
        overflowed = asyncio.ensure_future(overflow.wait())
        cancellation_token.link_future(finished)
        note, exitcode, truncated = "", 0, False
        try:
            done, _ = await asyncio.wait({finished, overflowed}, timeout=self._timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if overflowed in done:
                exitcode, truncated = OUTPUT_LIMIT_EXIT_CODE, True
                note = (f"\n[output truncated: more than {self._max_output_bytes:,} bytes; "
                        "the process group was stopped]")
            elif finished in done:
                exitcode = finished.result()
            else:
                exitcode, note = TIMEOUT_EXIT_CODE, "\nTimeout"
        except asyncio.CancelledError:
            exitcode, note = CANCELLED_EXIT_CODE, "\nCancelled"
        finally:
            await self._stop_group(proc)  # also reaps forked children left behind after a normal exit
            for task in (finished, overflowed, readers):
                task.cancel()
            await asyncio.gather(finished, overflowed, readers, return_exceptions=True)
        texts = [streams[name].decode(errors="replace") for name in ("stderr", "stdout")]
        if truncated:  # a cut in the middle of a multi-byte character
            texts = [text.rstrip("\ufffd") for text in texts]
        return exitcode, "".join(texts) + note

    @staticmethod
    async def _finish(proc: asyncio.subprocess.Process, readers: asyncio.Future) -> int:
        await readers
        return await proc.wait() or 0

    async def _stop_group(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM to the whole process group, SIGKILL to whatever is left after the grace period."""
        pgid = proc.pid  # start_new_session: the child leads its own session and process group
        if not _group_alive(pgid):
            await proc.wait()
            return
        _signal_group(pgid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._kill_grace_s
        while loop.time() < deadline and _group_alive(pgid):
            await asyncio.sleep(0.02)
        _signal_group(pgid, signal.SIGKILL)
        await proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies waiting to be reaped do not count)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir("/proc"):  # macOS: no cheap way to skip zombies; signal 0 is the answer
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False
