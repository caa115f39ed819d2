with Ada.Command_Line; use Ada.Command_Line;
with Ada.Text_IO;
with GNAT.OS_Lib;

with Foo;

procedure Code is
   type Names is array (1 .. 3) of String (1 .. 3);
   Expected : constant Names := ("foo", "bar", "baz");
   Content  : String (1 .. 64);
   Last     : Natural;
   Found    : Boolean;

   procedure Fail (Code : Integer) is
   begin
      GNAT.OS_Lib.OS_Exit (Code);
   end Fail;
begin
   if Foo.Read_Stdin /= "stdin" then
      Fail (1);
   end if;
   if Argument_Count /= 3 then
      Fail (2);
   end if;
   for I in Expected'Range loop
      if Argument (I) /= Expected (I) then
         Fail (2 + I);
      end if;
   end loop;
   Foo.Read_File ("test.txt", Content, Last, Found);
   if not Found or else Content (1 .. Last) /= "hello world" then
      Fail (6);
   end if;
   Ada.Text_IO.Put_Line ("OK");
end Code;
