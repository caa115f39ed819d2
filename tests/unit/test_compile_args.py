"""The compile_args policies: what a build may add to the compiler's arguments, and what not."""

from __future__ import annotations

import pytest

from sandkasten_py.programs.compile_args import EMSCRIPTEN, POLICIES, check_compile_args
from sandkasten_py.programs.errors import InvalidCompileArgs

SOURCES = ("code.c", "data.txt", "lib.js", "pre.js")


def refused(*args: str) -> list[tuple[str, ...]]:
    return [r.args for r in EMSCRIPTEN.refusals(list(args), SOURCES)]


@pytest.mark.parametrize("args", [
    ["-O0"], ["-O1"], ["-O2"], ["-O3"], ["-Os"], ["-Oz"], ["-g"], ["-g0"], ["-g3"], ["-gsource-map"],
    ["-sEXPORTED_FUNCTIONS=[_main,_add]"], ["-sEXPORTED_FUNCTIONS=_main,_add"],
    ["-s", "EXPORTED_RUNTIME_METHODS=['ccall','cwrap']"], ["-sMODULARIZE"], ["-sMODULARIZE=1"],
    ["-sEXPORT_NAME=createModule"], ["-sALLOW_MEMORY_GROWTH=1"], ["-sINITIAL_MEMORY=33554432"],
    ["-sENVIRONMENT=web"], ["-sASSERTIONS=2"], ["-sINVOKE_RUN=0"], ["-sNO_EXIT_RUNTIME"],
    ["-std=c11"], ["-std=gnu99"], ["-std=c++17"], ["-std=gnu++20"],
    ["-DNDEBUG"], ["-DMSG=\"hello world\""], ["-D", "N=3"], ["-UNDEBUG"], ["-U", "X"],
    ["-Wall"], ["-Wextra"], ["-Werror"], ["-Wno-unused-parameter"], ["-Werror=format"], ["-w"],
    ["-pedantic"], ["-pedantic-errors"],
    ["-fno-exceptions"], ["-fexceptions"], ["-fno-rtti"], ["-ffast-math"], ["-fvisibility=hidden"],
    ["-msimd128"], ["-mno-bulk-memory"], ["-lembind"], ["--bind"], ["-lnodefs.js"], ["--no-entry"],
    ["-I."], ["-I", "include"], ["-Iinclude/sub"], ["-L."],
    ["--embed-file", "data.txt"], ["--embed-file=data.txt"], ["--embed-file", "data.txt@/in/data"],
    ["--preload-file=data.txt@/data"], ["--pre-js", "pre.js"], ["--post-js=pre.js"],
    ["--js-library", "lib.js"], ["--source-map-base", "https://example.com/maps/"],
    [],
])
def test_allowed(args: list[str]) -> None:
    assert refused(*args) == []
    EMSCRIPTEN.check(args, SOURCES)


@pytest.mark.parametrize("args, offending", [
    # the output is fixed
    (["-o", "/tmp/x.js"], [("-o",), ("/tmp/x.js",)]),
    (["-o/tmp/x.js"], [("-o/tmp/x.js",)]),
    (["-o=x.js"], [("-o=x.js",)]),
    # response files, also inside settings
    (["@args.txt"], [("@args.txt",)]),
    (["@/etc/passwd"], [("@/etc/passwd",)]),
    (["-sEXPORTED_FUNCTIONS=@/etc/passwd"], [("-sEXPORTED_FUNCTIONS=@/etc/passwd",)]),
    (["-s", "EXPORTED_FUNCTIONS=@/etc/passwd"], [("-s", "EXPORTED_FUNCTIONS=@/etc/passwd")]),
    (["-sEXPORTED_FUNCTIONS= @x"], [("-sEXPORTED_FUNCTIONS= @x",)]),
    # files outside the sources, joined and split
    (["--embed-file=/etc/passwd"], [("--embed-file=/etc/passwd",)]),
    (["--embed-file", "/etc/passwd"], [("--embed-file", "/etc/passwd")]),
    (["--embed-file", "../x"], [("--embed-file", "../x")]),
    (["--embed-file", "/etc/passwd@data.txt"], [("--embed-file", "/etc/passwd@data.txt")]),
    (["--embed-file", "data.txt@@/../../etc/passwd"], [("--embed-file", "data.txt@@/../../etc/passwd")]),
    (["--preload-file=/usr/share"], [("--preload-file=/usr/share",)]),
    (["--preload-file", "."], [("--preload-file", ".")]),
    (["--js-library=/usr/share/emscripten/src/x.js"], [("--js-library=/usr/share/emscripten/src/x.js",)]),
    (["--js-library", "/tmp/x.js"], [("--js-library", "/tmp/x.js")]),
    (["--pre-js=/etc/hostname"], [("--pre-js=/etc/hostname",)]),
    (["--pre-js", "/etc/hostname"], [("--pre-js", "/etc/hostname")]),
    (["--post-js=../../x.js"], [("--post-js=../../x.js",)]),
    (["--post-js", "/x.js"], [("--post-js", "/x.js")]),
    # tool directories, plugins, wrappers
    (["-B/tmp"], [("-B/tmp",)]), (["-B", "/tmp"], [("-B",), ("/tmp",)]), (["-B."], [("-B.",)]),
    (["-fplugin=/tmp/p.so"], [("-fplugin=/tmp/p.so",)]), (["-fplugin", "/tmp/p.so"], [("-fplugin",), ("/tmp/p.so",)]),
    (["-fpass-plugin=/x.so"], [("-fpass-plugin=/x.so",)]),
    (["-wrapper", "/bin/sh"], [("-wrapper",), ("/bin/sh",)]), (["--wrapper=/bin/sh"], [("--wrapper=/bin/sh",)]),
    (["-Xclang", "-load"], [("-Xclang",), ("-load",)]), (["-mllvm", "-x"], [("-mllvm",), ("-x",)]),
    (["-Wl,--whole-archive"], [("-Wl,--whole-archive",)]), (["-Wp,-MD,/tmp/x"], [("-Wp,-MD,/tmp/x",)]),
    (["-Wa,-I/etc"], [("-Wa,-I/etc",)]), (["-Xlinker", "x"], [("-Xlinker",), ("x",)]),
    (["--js-transform", "sh"], [("--js-transform",), ("sh",)]), (["--em-config=/x"], [("--em-config=/x",)]),
    (["--cache=/tmp/c"], [("--cache=/tmp/c",)]),
    # include and library paths: absolute, climbing, sysroot-relative
    (["-I/etc"], [("-I/etc",)]), (["-I", "/etc"], [("-I", "/etc")]), (["-I=/etc"], [("-I=/etc",)]),
    (["-I../.."], [("-I../..",)]), (["-I", "a/../../b"], [("-I", "a/../../b")]),
    (["-L/usr/lib"], [("-L/usr/lib",)]), (["-L", "/usr/lib"], [("-L", "/usr/lib")]),
    # a separate value that is an option or a response file
    (["-I", "-o/tmp/x"], [("-I", "-o/tmp/x")]), (["-D", "-oX"], [("-D", "-oX")]),
    (["-s", "@settings"], [("-s", "@settings")]), (["-I-o/tmp"], [("-I-o/tmp",)]),
    (["--source-map-base", "-o"], [("--source-map-base", "-o")]),
    # not on the list at all
    (["-include", "/etc/passwd"], [("-include",), ("/etc/passwd",)]), (["-isystem/etc"], [("-isystem/etc",)]),
    (["--sysroot=/"], [("--sysroot=/",)]), (["-c"], [("-c",)]), (["-E"], [("-E",)]),
    (["-l:/etc/passwd"], [("-l:/etc/passwd",)]), (["-lfoo"], [("-lfoo",)]),
    (["-sUSE_SDL=2"], [("-sUSE_SDL=2",)]), (["-sNODERAWFS=1"], [("-sNODERAWFS=1",)]),
    (["-sexported_functions=x"], [("-sexported_functions=x",)]), (["-std=c2000"], [("-std=c2000",)]),
    (["-DMSG=a\nb"], [("-DMSG=a\nb",)]), (["-D"], [("-D",)]), (["-D", "1X"], [("-D", "1X")]),
    (["--closure", "1"], [("--closure",), ("1",)]), (["-fsanitize=address"], [("-fsanitize=address",)]),
    # a refused argument does not hide an allowed one, nor the other way round
    (["-O2", "-o", "x", "-Wall"], [("-o",), ("x",)]),
])
def test_refused(args: list[str], offending: list[tuple[str, ...]]) -> None:
    assert refused(*args) == offending
    with pytest.raises(InvalidCompileArgs) as info:
        EMSCRIPTEN.check(args, SOURCES)
    assert info.value.args_refused == [arg for pair in offending for arg in pair]


def test_the_message_says_why_for_each() -> None:
    with pytest.raises(InvalidCompileArgs) as info:
        EMSCRIPTEN.check(["-o", "-sX=@f", "--embed-file", "/etc/passwd"], SOURCES)
    message = info.value.message or ""
    assert "`-o`: the output is always /program/app.js" in message
    assert "`-sX=@f`: the setting X is not one of those allowed" in message
    assert "`--embed-file /etc/passwd`: only the request's own files may be named here" in message
    assert "code.c, data.txt" in message


def test_a_setting_from_a_file_is_refused_even_when_the_name_is_allowed() -> None:
    with pytest.raises(InvalidCompileArgs) as info:
        EMSCRIPTEN.check(["-sEXPORTED_FUNCTIONS=@/etc/passwd"], SOURCES)
    assert "read from a file" in (info.value.message or "")


def test_environments_without_a_policy_refuse_any_but_take_none() -> None:
    check_compile_args(None, "python", [], ["code.py"])
    with pytest.raises(InvalidCompileArgs) as info:
        check_compile_args(None, "python", ["-O2"], ["code.py"])
    assert info.value.args_refused == ["-O2"]
    assert "`python` takes no compile_args" in (info.value.message or "")
    check_compile_args("emcc", "emcc", ["-O2"], ["code.c"])
    assert POLICIES["emcc"] is EMSCRIPTEN
