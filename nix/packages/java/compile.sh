#!/usr/bin/env bash
# Compile the sources into /program, then record which class holds the entry point.
set -e
# The JVM cannot see the job's memory limit (no /sys), so it is sized here.
mem=${SANDKASTEN_MEMORY_MB:-1024}
jvm=(-J-Xmx$((mem * 6 / 10))m -J-Xss8m -J-XX:+UseSerialGC -J-XX:TieredStopAtLevel=1
     -J-XX:ActiveProcessorCount="${SANDKASTEN_CPUS:-1}" -J-Xshare:auto)

# javac wants a public top-level class in a file of its name, and the main file has a fixed
# name: then it is compiled from a copy named after the first public type it declares.
main=$1
public='^[[:space:]]*public[[:space:]]+((abstract|final|sealed|strictfp)[[:space:]]+)*'
public+='(class|interface|enum|record)[[:space:]]+([A-Za-z_$][A-Za-z0-9_$]*)'
# SC2094 is a false positive: cp only reads "$1", nothing in the loop writes it.
# shellcheck disable=SC2094
while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ $public ]]; then
        name=${BASH_REMATCH[4]}.java
        if [[ $name != "${1##*/}" && ! -e $name ]]; then
            mkdir -p /tmp/main
            cp -- "$1" "/tmp/main/$name"
            main=/tmp/main/$name
        fi
        break
    fi
done < "$1"

# The main file and the other Java sources (further files may be data). `./` keeps a file
# named like an option (`-d`, `@args`) a file name.
sources=(./"$main")
[[ $main == /* ]] && sources=("$main")
for file in "${@:2}"; do
    case $file in
        *.java) sources+=(./"$file") ;;
    esac
done
javac "${jvm[@]}" -encoding UTF-8 -d /program "${sources[@]}"

# javap prints `Compiled from "<file>"` before each class, then the class line and its public
# members. The entry point is the first top-level class with main(String[]) of the main file,
# else of any file. javap writes `String...` for varargs, other modifiers (`final`,
# `synchronized`, `strictfp`) after `static`, and a `throws` clause before the `;`; parameter
# modifiers and annotations not at all.
entry_point='^ +public static ([a-z]+ )*void main\(java\.lang\.String(\[\]|\.\.\.)\)( throws [^;]+)?;$'
cd /program
shopt -s globstar nullglob
classes=()
for file in **/*.class; do
    [[ $file == *'$'* ]] || classes+=("$file")
done
first='' any='' source='' class=''
while IFS= read -r line; do
    if [[ $line =~ ^Compiled\ from\ \"(.*)\"$ ]]; then
        source=${BASH_REMATCH[1]}
    elif [[ $line =~ ^([a-z]+\ )*(class|interface|enum|record)\ ([^ <{]+) ]]; then
        class=${BASH_REMATCH[3]}
    elif [[ $line =~ $entry_point ]]; then
        [[ -n $any ]] || any=$class
        [[ -n $first || $source != "${main##*/}" ]] || first=$class
    fi
done < <(if (( ${#classes[@]} )); then javap "${jvm[@]}" -public "${classes[@]}"; fi)
main=${first:-$any}
if [[ -z $main ]]; then
    echo "error: no class has a method public static void main(String[])" >&2
    exit 1
fi
printf '%s\n' "$main" > .main
