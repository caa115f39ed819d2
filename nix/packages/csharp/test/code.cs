using System;
using Conformance;

public static class Program
{
    public static int Main(string[] args)
    {
        if (Inputs.ReadStdin() != "stdin")
        {
            return 1;
        }
        if (args.Length != 3)
        {
            return 2;
        }
        string[] expected = { "foo", "bar", "baz" };
        for (int i = 0; i < expected.Length; i++)
        {
            if (args[i] != expected[i])
            {
                return 3 + i;
            }
        }
        if (Inputs.ReadFileOrNull("test.txt") != "hello world")
        {
            return 6;
        }
        Console.WriteLine("OK");
        return 0;
    }
}
