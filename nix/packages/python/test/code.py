import sys

import numpy

from foo import check_stdin, read_file

# NumPy comes with the environment: a small computation must work.
if int(numpy.arange(4).sum()) != 6:
    print("numpy gives a wrong sum", file=sys.stderr)
    sys.exit(7)

if not check_stdin(sys.stdin.read()):
    sys.exit(1)

args = sys.argv[1:]
if len(args) != 3:
    sys.exit(2)
for code, (got, want) in enumerate(zip(args, ["foo", "bar", "baz"]), start=3):
    if got != want:
        sys.exit(code)

if read_file("test.txt") != "hello world":
    sys.exit(6)

print("OK")
