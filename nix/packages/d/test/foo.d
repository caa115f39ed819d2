module foo;

import std.file : exists, readText;
import std.stdio : stdin;

/// Everything on standard input.
string readStdin()
{
    string text;
    foreach (ubyte[] chunk; stdin.byChunk(256))
        text ~= cast(const(char)[]) chunk;
    return text;
}

/// The content of a file, or null if it does not exist.
string readFileOrNull(string path)
{
    return exists(path) ? readText(path) : null;
}
