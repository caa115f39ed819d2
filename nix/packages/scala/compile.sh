#!/usr/bin/env bash
# Compile the Scala sources into /program, then record which class holds the entry point.
set -e
# The JVMs cannot see the job's memory limit (no /sys), so they are sized here.
mem=${SANDKASTEN_MEMORY_MB:-1024}
opts=(-Xmx$((mem * 6 / 10))m -Xss8m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
      -XX:ActiveProcessorCount="${SANDKASTEN_CPUS:-1}" -Xshare:auto)

# The main file and the other Scala sources (further files may be data). `./` keeps a file
# named like an option a file name.
sources=(./"$1")
for file in "${@:2}"; do
    case $file in
        *.scala) sources+=(./"$file") ;;
    esac
done
# scalac (a script) hands JAVA_OPTS to its JVM.
JAVA_OPTS="${opts[*]}" scalac -encoding UTF-8 -d /program "${sources[@]}"

# An object with `main` gets a class with a static forwarder `main(String[])`. javap prints
# `Compiled from "<file>"` before each class, then the class line and its public members.
# The entry point is the first top-level class with main of the main file, else of any file.
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
    elif [[ $line =~ ^([a-z]+\ )*(class|interface)\ ([^ <{]+) ]]; then
        class=${BASH_REMATCH[3]}
    elif [[ $line =~ ^\ +public\ static\ void\ main\(java\.lang\.String(\[\]|\.\.\.)\)\; ]]; then
        [[ -n $any ]] || any=$class
        [[ -n $first || $source != "${1##*/}" ]] || first=$class
    fi
done < <(if (( ${#classes[@]} )); then javap "${opts[@]/#/-J}" -public "${classes[@]}"; fi)
main=${first:-$any}
if [[ -z $main ]]; then
    echo "error: no object has a method main(args: Array[String])" >&2
    exit 1
fi
printf '%s\n' "$main" > .main
