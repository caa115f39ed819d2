"""Which compiler arguments a build request may add, per environment (its manifest's `compile_args`).

An allowlist, not a blocklist: an argument is accepted only if a rule of the environment's policy
recognises it, so a flag nobody thought of is refused. The rules keep the build's shape (the
output is always /program/app.js) and keep every file a flag names among the request's own
sources: no `-o`, no response files (`@file`, `-sX=@file`), no absolute or climbing include
paths, no plugins, wrappers or tool directories. This is a policy, not the sandbox: the compile
step runs in the jail like any job, and what the jail lets it see is all a flag could name.

Flags that take a value accept it joined (`-DX=1`, `--embed-file=data.txt`) or as the next
argument (`-D X=1`, `--embed-file data.txt`); a refused pair is reported as both arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sandkasten_py.programs.errors import InvalidCompileArgs


@dataclass(frozen=True)
class Refusal:
    """Arguments refused together (a flag and its separate value), and why."""

    args: tuple[str, ...]
    why: str


# (flag, value) -> why it is refused, or None if it is fine; `sources` are the request's file names.
ValueRule = Callable[[str, Collection[str]], str | None]


@dataclass(frozen=True)
class Policy:
    """What one environment's compiler accepts from a request."""

    name: str
    summary: str
    """One sentence for people (the environment's documentation and error messages)."""
    plain: re.Pattern[str]
    """Arguments that are fine on their own (`-O2`, `-Wall`, `-std=c++17`)."""
    with_value: dict[str, ValueRule]
    """Flags that take a value, joined or as the next argument, and how the value is checked."""
    refused: tuple[tuple[re.Pattern[str], str], ...]
    """Known dangerous forms with a reason of their own (anything unlisted is refused anyway)."""

    def check(self, args: Sequence[str], sources: Collection[str]) -> None:
        """Raise InvalidCompileArgs naming every refused argument."""
        refusals = self.refusals(args, sources)
        if refusals:
            raise InvalidCompileArgs(
                [arg for refusal in refusals for arg in refusal.args],
                [f"`{' '.join(r.args)}`: {r.why}" for r in refusals],
            )

    def refusals(self, args: Sequence[str], sources: Collection[str]) -> list[Refusal]:
        """Every refused argument of `args`, in order."""
        refusals: list[Refusal] = []
        index = 0
        while index < len(args):
            arg = args[index]
            index += 1
            if _CONTROL.search(arg):
                refusals.append(Refusal((arg,), "control characters are not allowed in an argument"))
                continue
            why = self._refused_why(arg)
            if why is not None:
                refusals.append(Refusal((arg,), why))
                continue
            if self.plain.fullmatch(arg):
                continue
            flag, value, joined = self._split(arg)
            if flag is None:
                refusals.append(Refusal((arg,), f"not an argument {self.name} allows ({self.summary})"))
                continue
            pair: tuple[str, ...] = (arg,)
            if not joined:
                if index == len(args):
                    refusals.append(Refusal((arg,), "it needs a value after it"))
                    continue
                value = args[index]
                pair = (arg, value)
                index += 1
                if _CONTROL.search(value):
                    refusals.append(Refusal(pair, "control characters are not allowed in an argument"))
                    continue
                if value.startswith(("-", "@")):  # emcc's own parsing might take it as an option
                    refusals.append(Refusal(pair, f"{arg} needs a value, not an option or a response file"))
                    continue
            why = self.with_value[flag](value, sources)
            if why is not None:
                refusals.append(Refusal(pair, why))
        return refusals

    def _refused_why(self, arg: str) -> str | None:
        for pattern, why in self.refused:
            if pattern.match(arg):
                return why
        return None

    def _split(self, arg: str) -> tuple[str | None, str, bool]:
        """(flag, joined value, whether the value was joined) for a flag taking a value."""
        for flag in self.with_value:
            if arg == flag:
                return flag, "", False
            if flag.startswith("--") and arg.startswith(flag + "="):
                return flag, arg[len(flag) + 1:], True
            if not flag.startswith("--") and arg.startswith(flag):
                if flag == "-s" and not arg[2:3].isupper():  # -std=..., -shared: not settings
                    continue
                return flag, arg[len(flag):], True
        return None, "", False


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _source(what: str) -> ValueRule:
    """The value names one of the request's own files (for `--embed-file`, also `file@target`)."""
    def rule(value: str, sources: Collection[str]) -> str | None:
        if what == "embed" and "@@" in value:  # Emscripten's escape of a literal @ in a path
            return "`@@` is not allowed in a file mapping"
        name = value.split("@", 1)[0] if what == "embed" else value
        if name in sources:
            return None
        listed = ", ".join(sorted(sources))
        return f"only the request's own files may be named here ({listed}), not {name!r}"
    return rule


_RELATIVE_DIR = re.compile(r"[A-Za-z0-9._+][A-Za-z0-9._/+-]*")


def _relative_dir(value: str, sources: Collection[str]) -> str | None:
    if value.startswith("/"):
        return "absolute paths are not allowed: the sources are all in the working directory"
    if value.startswith("="):
        return "sysroot-relative paths are not allowed"
    if not _RELATIVE_DIR.fullmatch(value) or ".." in value.split("/"):
        return "only a directory below the working directory (no `..`) is allowed"
    return None


_MACRO = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(=.*)?", re.DOTALL)


def _macro(value: str, sources: Collection[str]) -> str | None:
    return None if _MACRO.fullmatch(value) else "expected NAME or NAME=VALUE"


_SETTING = re.compile(r"([A-Z][A-Z0-9_]*)(?:=(.*))?", re.DOTALL)


def _emscripten_setting(value: str, sources: Collection[str]) -> str | None:
    match = _SETTING.fullmatch(value)
    if match is None:
        return "expected NAME or NAME=VALUE"
    name, setting_value = match.group(1), match.group(2)
    base = name.removeprefix("NO_")
    if base not in EMSCRIPTEN_SETTINGS:
        return (f"the setting {name} is not one of those allowed: "
                f"{', '.join(sorted(EMSCRIPTEN_SETTINGS))}")
    if setting_value is not None and setting_value.lstrip().startswith("@"):
        return "settings may not be read from a file (`@file`)"
    return None


def _any(value: str, sources: Collection[str]) -> str | None:
    return None


EMSCRIPTEN_SETTINGS = frozenset({
    "ABORTING_MALLOC", "ALLOW_MEMORY_GROWTH", "ALLOW_TABLE_GROWTH", "ASSERTIONS", "ASYNCIFY",
    "ASYNCIFY_IMPORTS", "ASYNCIFY_STACK_SIZE", "DEFAULT_LIBRARY_FUNCS_TO_INCLUDE",
    "DISABLE_EXCEPTION_CATCHING", "DISABLE_EXCEPTION_THROWING", "DYNAMIC_EXECUTION",
    "ENVIRONMENT", "ERROR_ON_UNDEFINED_SYMBOLS", "EXIT_RUNTIME", "EXPORTED_FUNCTIONS",
    "EXPORTED_RUNTIME_METHODS", "EXPORT_ALL", "EXPORT_ES6", "EXPORT_KEEPALIVE", "EXPORT_NAME",
    "FILESYSTEM", "FORCE_FILESYSTEM", "INCOMING_MODULE_JS_API", "INITIAL_MEMORY", "INVOKE_RUN",
    "MALLOC", "MAXIMUM_MEMORY", "MEMORY_GROWTH_GEOMETRIC_STEP", "MODULARIZE", "SAFE_HEAP",
    "SINGLE_FILE", "STACK_OVERFLOW_CHECK", "STACK_SIZE", "STRICT", "TEXTDECODER", "TOTAL_MEMORY",
    "TOTAL_STACK", "USE_ES6_IMPORT_META", "WARN_ON_UNDEFINED_SYMBOLS", "WASM",
    "WASM_ASYNC_COMPILATION", "WASM_BIGINT",
})
"""Settings that change only the generated code and its interface, never read a file."""

_EMSCRIPTEN_F_FLAGS = (
    "exceptions", "rtti", "fast-math", "strict-aliasing", "builtin", "inline", "unroll-loops",
    "common", "math-errno", "omit-frame-pointer", "short-enums", "color-diagnostics",
    "signed-char", "unsigned-char", "wrapv", "trapv", "stack-protector",
)

EMSCRIPTEN = Policy(
    name="emcc",
    summary="-O and -g levels, -s settings from a list, -std=, -D, -U, -W, -w, -pedantic, some "
            "-f and -m flags, -l of Emscripten's own libraries, relative -I and -L, and "
            "--embed-file, --preload-file, --pre-js, --post-js and --js-library of the "
            "request's own files",
    plain=re.compile("|".join([
        r"-O[0-3sz]", r"-g[0-3]?", r"-gsource-map",
        r"-std=(?:c|gnu)(?:89|90|99|11|17|18|2x|23)",
        r"-std=(?:c|gnu)\+\+(?:98|03|11|14|17|20|2a|2b|23)",
        r"-W[A-Za-z0-9_+=-]+",                                  # no comma: not -Wl, -Wp, -Wa
        r"-w", r"-pedantic(?:-errors)?",
        r"-f(?:no-)?(?:" + "|".join(re.escape(f) for f in _EMSCRIPTEN_F_FLAGS) + ")",
        r"-fvisibility=(?:default|hidden)", r"-fdiagnostics-color(?:=(?:always|never|auto))?",
        r"-m(?:no-)?(?:simd128|bulk-memory|nontrapping-fptoint|sign-ext|mutable-globals)",
        r"-l(?:embind|m|c|nodefs\.js|idbfs\.js|workerfs\.js)", r"--bind",
        r"--no-entry", r"--profiling", r"--profiling-funcs", r"--emit-symbol-map",
    ])),
    with_value={
        "-s": _emscripten_setting,
        "-D": _macro,
        "-U": _macro,
        "-I": _relative_dir,
        "-L": _relative_dir,
        "--embed-file": _source("embed"),
        "--preload-file": _source("embed"),
        "--pre-js": _source("file"),
        "--post-js": _source("file"),
        "--js-library": _source("file"),
        "--source-map-base": _any,
    },
    refused=(
        (re.compile(r"-o"), "the output is always /program/app.js and app.wasm"),
        (re.compile(r"@"), "response files (`@file`) are not allowed"),
        (re.compile(r"-B|--prefix"), "tool directories are not allowed"),
        (re.compile(r"-fplugin|-fpass-plugin|-Xclang|-mllvm|-Xlinker|-W[lpa],"),
         "plugins and raw compiler, assembler or linker options are not allowed"),
        (re.compile(r"-{1,2}wrapper|--js-transform|--em-config|--cache"),
         "commands, configuration and cache directories are not allowed"),
    ),
)

POLICIES: dict[str, Policy] = {policy.name: policy for policy in (EMSCRIPTEN,)}
"""By the name an environment's manifest gives in `compile_args`."""


def check_compile_args(policy_name: str | None, environment: str, args: Sequence[str],
                       sources: Collection[str]) -> None:
    """Raise InvalidCompileArgs unless the environment's policy accepts every argument."""
    if not args:
        return
    if policy_name is None:
        raise InvalidCompileArgs(list(args), [f"the environment `{environment}` takes no compile_args"])
    POLICIES[policy_name].check(args, sources)
