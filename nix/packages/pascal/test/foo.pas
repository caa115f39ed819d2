unit foo;

interface

{ Everything left in a text file, line ends included. }
function ReadAll(var source: Text): AnsiString;

{ The content of a file; Found is false if it cannot be opened. }
function ReadFileText(const path: AnsiString; var found: Boolean): AnsiString;

implementation

function ReadAll(var source: Text): AnsiString;
var
  c: Char;
begin
  ReadAll := '';
  while not Eof(source) do
  begin
    Read(source, c);
    ReadAll := ReadAll + c;
  end;
end;

function ReadFileText(const path: AnsiString; var found: Boolean): AnsiString;
var
  f: Text;
begin
  ReadFileText := '';
  Assign(f, path);
  {$I-}
  Reset(f);
  {$I+}
  found := IOResult = 0;
  if found then
  begin
    ReadFileText := ReadAll(f);
    Close(f);
  end;
end;

end.
