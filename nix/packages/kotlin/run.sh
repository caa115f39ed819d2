#!/usr/bin/env bash
# $1 is the main file name; the jar's manifest names the class with `main`.
shift
# The JVM cannot see the job's memory limit (no /sys), so the heap is sized from it here,
# leaving room for metaspace, code cache and thread stacks. C1 only and the class data
# sharing archive keep the start fast; one GC thread suits small jobs. Jobs have no
# /dev/random, without which the seeding of SecureRandom (also behind UUID.randomUUID)
# falls back to a slow, CPU-bound generator.
mem=${SANDKASTEN_MEMORY_MB:-256}
exec java -Xms$((mem / 16))m -Xmx$((mem * 6 / 10))m -Xss8m -XX:MaxMetaspaceSize=$((mem / 4))m \
    -XX:ReservedCodeCacheSize=32m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -XX:ActiveProcessorCount="${SANDKASTEN_CPUS:-1}" -Xshare:auto \
    -Djava.security.egd=file:/dev/urandom \
    -jar /program/program.jar "$@"
