#!/usr/bin/env bash
# All C# files of the request (the main file first) make one program, written for the .NET SDK:
# its implicit usings (System, System.IO, System.Linq, System.Collections.Generic,
# System.Net.Http, System.Threading, System.Threading.Tasks) and top-level statements.
#
# NixOS: the .NET SDK builds a console project of the files, as Sandkasten did.
# Debian hosts: Mono's mcs, which knows C# 7: the implicit usings are put in front of every file,
# and a main file of top-level statements becomes the body of `Main(string[] args)`. `#line`
# directives keep the compiler's messages at the user's file names and lines.
set -euo pipefail
main=$1
sources=()
for file in "$@"; do
    [[ $file == *.cs ]] && sources+=("$file")
done

if command -v dotnet >/dev/null; then
    export HOME=/tmp/.dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
    mkdir -p /tmp/project
    cd /tmp/project
    dotnet new console --name program --output . --no-restore >/dev/null
    rm Program.cs
    (cd /box && cp -- "$@" /tmp/project/)
    exec dotnet build --nologo --verbosity quiet --output /program
fi

usings=(System System.IO System.Linq System.Collections.Generic System.Net.Http System.Threading
        System.Threading.Tasks)
prelude() {
    printf 'using %s;\n' "${usings[@]}"
    printf '#line 1 "%s"\n' "$1"
}

# A Main method in any file means there are no top-level statements.
entry='static[[:space:]]+([A-Za-z<>]+[[:space:]]+)*Main[[:space:]]*\('
has_main=false
for file in "${sources[@]}"; do
    [[ $(<"$file") =~ $entry ]] && has_main=true
done

# Top-level statements: using directives, then statements, then (from the first type or
# namespace declaration at the start of a line) declarations, which C# wants in this order.
wrap_statements() {
    local file=$1 line number=0 part=head
    local directive='^[[:space:]]*(using[[:space:]]+(static[[:space:]]+)?[A-Za-z_][A-Za-z0-9_.]*[[:space:]]*(=[^;]*)?;[[:space:]]*|//.*|[[:space:]]*)$'
    local declaration='^(\[[^]]*\][[:space:]]*)*((public|internal|static|sealed|abstract|partial|unsafe|readonly|file)[[:space:]]+)*(class|struct|interface|enum|record|delegate|namespace)[[:space:]]'
    prelude "$file"
    while IFS= read -r line || [[ -n $line ]]; do
        number=$((number + 1))
        if [[ $part == head && ! $line =~ $directive ]]; then
            part=statements
            echo 'partial class Program {'
            echo '    static int Main(string[] args) { return Statements(args).GetAwaiter().GetResult(); }'
            echo '#pragma warning disable 1998, 162'
            echo '    static async System.Threading.Tasks.Task<int> Statements(string[] args) {'
            printf '#line %d "%s"\n' "$number" "$file"
        fi
        if [[ $part == statements && $line =~ $declaration ]]; then
            part=declarations
            printf '#line hidden\nreturn 0; } }\n#line %d "%s"\n' "$number" "$file"
        fi
        printf '%s\n' "$line"
    done < "$file"
    if [[ $part == statements ]]; then
        printf '#line hidden\nreturn 0; } }\n'
    fi
}

mkdir -p /tmp/csharp
prepared=()
for file in "${sources[@]}"; do
    if [[ $file == "$main" && $has_main == false ]]; then
        wrap_statements "$file"
    else
        prelude "$file"
        cat -- "$file"
    fi > "/tmp/csharp/$file"
    prepared+=("/tmp/csharp/$file")
done
status=0
mcs -nologo -optimize+ -r:System.Net.Http.dll -out:/program/program.exe "${prepared[@]}" || status=$?
if (( status != 0 )) && [[ $has_main == false ]]; then
    echo "note: no Main method, so the top-level statements of $main were compiled as the body" \
         "of Main(string[] args); Mono's C# compiler knows C# 7 (no records, tuples," \
         "local functions or nullable reference types)" >&2
fi
exit "$status"
