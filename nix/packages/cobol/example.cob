       IDENTIFICATION DIVISION.
       PROGRAM-ID. example.
       DATA DIVISION.
       WORKING-STORAGE SECTION.
       01 ws-name           PIC X(256).
       PROCEDURE DIVISION.
           ACCEPT ws-name
           DISPLAY "Hello, " FUNCTION TRIM(ws-name TRAILING) "!"
           STOP RUN.
