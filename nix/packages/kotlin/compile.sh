#!/usr/bin/env bash
# Compile the Kotlin sources (further files may be data) into one jar with the Kotlin runtime.
# `./` keeps a file named like an option a file name.
sources=(./"$1")
for file in "${@:2}"; do
    case $file in
        *.kt) sources+=(./"$file") ;;
    esac
done
# kotlinc passes JAVA_OPTS to its JVM, which cannot see the job's memory limit (no /sys).
# -PrintWarnings silences the JVM's own notes (Kotlin 1.3's launcher passes the deprecated
# -noverify); the compiler's diagnostics are not affected.
mem=${SANDKASTEN_MEMORY_MB:-1024}
export JAVA_OPTS="-Xmx$((mem * 6 / 10))m -Xss8m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -XX:ActiveProcessorCount=${SANDKASTEN_CPUS:-1} -Xshare:auto -XX:-PrintWarnings"
exec kotlinc -include-runtime -d /program/program.jar "${sources[@]}"
