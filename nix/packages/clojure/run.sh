#!/usr/bin/env bash
# $1 is the main file, the rest are the program's arguments (`*command-line-args*`).
# Clojure's jar lies near the `clojure` command: Debian's share/java/clojure.jar, or the
# command-line tools' jar (which holds Clojure) elsewhere. Starting java directly skips the
# launcher, which would not size the heap.
bin=$(dirname -- "$(type -P clojure)")
for jar in "$bin"/../share/java/clojure.jar "$bin"/../libexec/clojure-tools-*.jar; do
    [[ -e $jar ]] && break
done
# The JVM cannot see the job's memory limit (no /sys), so the heap is sized from it here,
# leaving room for metaspace, code cache and thread stacks. C1 only and the class data
# sharing archive keep the start fast; one GC thread suits small jobs. Jobs have no
# /dev/random, without which the seeding of SecureRandom (also behind UUID.randomUUID)
# falls back to a slow, CPU-bound generator.
mem=${SANDKASTEN_MEMORY_MB:-256}
# /program on the class path lets the main file `require` the other files as namespaces.
exec java -Xms$((mem / 16))m -Xmx$((mem * 6 / 10))m -Xss8m -XX:MaxMetaspaceSize=$((mem / 4))m \
    -XX:ReservedCodeCacheSize=32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -XX:ActiveProcessorCount="${SANDKASTEN_CPUS:-1}" -Xshare:auto \
    -Djava.security.egd=file:/dev/urandom \
    -cp "$jar:/program" clojure.main /program/"$@"
