import std.stdio : readln, writefln;
import std.string : chomp;

void main()
{
    const name = readln().chomp;
    writefln("Hello, %s!", name);
}
