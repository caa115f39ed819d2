with Ada.Text_IO; use Ada.Text_IO;

procedure Code is
begin
   Put_Line ("Hello, " & Get_Line & "!");
end Code;
