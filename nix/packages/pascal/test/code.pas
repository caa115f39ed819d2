program code;

uses foo;

const
  Expected: array[1..3] of AnsiString = ('foo', 'bar', 'baz');

var
  i: Integer;
  found: Boolean;

begin
  if ReadAll(Input) <> 'stdin' then
    Halt(1);
  if ParamCount <> 3 then
    Halt(2);
  for i := 1 to 3 do
    if ParamStr(i) <> Expected[i] then
      Halt(2 + i);
  if (ReadFileText('test.txt', found) <> 'hello world') or not found then
    Halt(6);
  WriteLn('OK');
end.
