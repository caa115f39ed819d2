#!/usr/bin/env bash
# gfortran compiles the files in command-line order, and a module must be compiled
# before the files that use it: the other Fortran files come first, the main file last.
# Module files (.mod) go to /tmp, since /box is read-only.
sources=()
for file in "${@:2}"; do
    case $file in
        *.f|*.for|*.f90|*.f95|*.f03|*.f08|*.F|*.F90|*.F95|*.F03|*.F08) sources+=(./"$file") ;;
    esac
done
mkdir -p /tmp/modules
exec gfortran -O2 -J /tmp/modules -o /program/binary "${sources[@]}" ./"$1"
