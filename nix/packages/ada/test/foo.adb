with Ada.Streams.Stream_IO;
with GNAT.OS_Lib;

package body Foo is

   function Read_Stdin return String is
      Chunk : String (1 .. 256);
      Count : Integer;
   begin
      Count := GNAT.OS_Lib.Read (GNAT.OS_Lib.Standin, Chunk'Address, Chunk'Length);
      if Count <= 0 then
         return "";
      end if;
      return Chunk (1 .. Count) & Read_Stdin;
   end Read_Stdin;

   procedure Read_File (Path : String; Content : out String; Last : out Natural;
                        Found : out Boolean) is
      use Ada.Streams.Stream_IO;
      File : File_Type;
   begin
      Last := Content'First - 1;
      Found := False;
      Open (File, In_File, Path);
      Found := True;
      while not End_Of_File (File) and then Last < Content'Last loop
         Last := Last + 1;
         Character'Read (Stream (File), Content (Last));
      end loop;
      Close (File);
   exception
      when Name_Error | Use_Error =>
         Found := False;
   end Read_File;

end Foo;
