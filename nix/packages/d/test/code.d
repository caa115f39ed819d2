import core.stdc.stdlib : exit;
import std.stdio : writeln;

import foo : readFileOrNull, readStdin;

void main(string[] args)
{
    if (readStdin() != "stdin")
        exit(1);
    if (args.length != 4)
        exit(2);
    foreach (i, expected; ["foo", "bar", "baz"])
        if (args[i + 1] != expected)
            exit(3 + cast(int) i);
    const content = readFileOrNull("test.txt");
    if (content is null || content != "hello world")
        exit(6);
    writeln("OK");
}
