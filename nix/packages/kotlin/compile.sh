#!/usr/bin/env bash
# Compile the Kotlin sources (further files may be data) into one jar with the Kotlin runtime.
# `./` keeps a file named like an option a file name.
sources=(./"$1")
for file in "${@:2}"; do
    case $file in
        *.kt) sources+=(./"$file") ;;
    esac
done
# Kotlin before 1.6 (Debian's is 1.3) has no readln() and readlnOrNull(), which today's programs
# use for stdin: they are added to the root package, unless the program declares its own.
if compgen -G "/usr/share/java/kotlin-stdlib-1.[0-5].*.jar" >/dev/null; then
    program=$(cat -- "${sources[@]}")
    : > /tmp/readln.kt
    if [[ ! $program =~ fun[[:space:]]+readln[[:space:]]*\( ]]; then
        echo 'fun readln(): String = readLine() ?: throw RuntimeException("EOF has already been reached")' >> /tmp/readln.kt
    fi
    if [[ ! $program =~ fun[[:space:]]+readlnOrNull[[:space:]]*\( ]]; then
        echo 'fun readlnOrNull(): String? = readLine()' >> /tmp/readln.kt
    fi
    sources+=(/tmp/readln.kt)
fi
# kotlinc passes JAVA_OPTS to its JVM, which cannot see the job's memory limit (no /sys).
# -PrintWarnings silences the JVM's own notes (Kotlin 1.3's launcher passes the deprecated
# -noverify); the compiler's diagnostics are not affected.
mem=${SANDKASTEN_MEMORY_MB:-1024}
export JAVA_OPTS="-Xmx$((mem * 6 / 10))m -Xss8m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -XX:ActiveProcessorCount=${SANDKASTEN_CPUS:-1} -Xshare:auto -XX:-PrintWarnings"
exec kotlinc -include-runtime -d /program/program.jar "${sources[@]}"
