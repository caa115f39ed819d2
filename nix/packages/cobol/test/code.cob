       IDENTIFICATION DIVISION.
       PROGRAM-ID. conformance.
       DATA DIVISION.
       WORKING-STORAGE SECTION.
       01 ws-text           PIC X(64).
       01 ws-length         BINARY-LONG.
       01 ws-found          PIC X.
       01 ws-path           PIC X(64) VALUE "test.txt".
       01 ws-count          BINARY-LONG.
       01 ws-index          BINARY-LONG.
       01 ws-argument       PIC X(64).
       01 ws-expected-table.
          05 FILLER         PIC X(3) VALUE "foo".
          05 FILLER         PIC X(3) VALUE "bar".
          05 FILLER         PIC X(3) VALUE "baz".
       01 ws-expected REDEFINES ws-expected-table PIC X(3) OCCURS 3.
       PROCEDURE DIVISION.
      * read-stdin and read-file are programs of foo.cob.
           CALL "read-stdin" USING ws-text ws-length
           IF ws-length NOT = 5 OR ws-text(1:5) NOT = "stdin"
               STOP RUN RETURNING 1
           END-IF
           ACCEPT ws-count FROM ARGUMENT-NUMBER
           IF ws-count NOT = 3
               STOP RUN RETURNING 2
           END-IF
           PERFORM VARYING ws-index FROM 1 BY 1 UNTIL ws-index > 3
               ACCEPT ws-argument FROM ARGUMENT-VALUE
               IF ws-argument NOT = ws-expected(ws-index)
                   COMPUTE RETURN-CODE = ws-index + 2
                   STOP RUN
               END-IF
           END-PERFORM
           CALL "read-file" USING ws-path ws-text ws-length ws-found
           IF ws-found NOT = "Y" OR ws-length NOT = 11
              OR ws-text(1:11) NOT = "hello world"
               STOP RUN RETURNING 6
           END-IF
           DISPLAY "OK"
           STOP RUN.
