--  Helpers of the conformance program.
package Foo is

   --  Everything on standard input, byte for byte.
   function Read_Stdin return String;

   --  The content of a file; Found is False if it cannot be opened.
   procedure Read_File (Path : String; Content : out String; Last : out Natural;
                        Found : out Boolean);

end Foo;
