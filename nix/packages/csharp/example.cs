// Top-level statements, as `dotnet new console` writes a program.
var name = Console.ReadLine();
Console.WriteLine($"Hello, {name}!");
