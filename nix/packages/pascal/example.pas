program example;

var
  name: AnsiString;

begin
  ReadLn(name);
  WriteLn('Hello, ', name, '!');
end.
