using System;

public static class Example
{
    public static void Main()
    {
        string name = Console.ReadLine();
        Console.WriteLine($"Hello, {name}!");
    }
}
