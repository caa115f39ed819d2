      * Helpers of the conformance program: exact reading of stdin
      * (through the C library's getchar) and of a file.
       IDENTIFICATION DIVISION.
       PROGRAM-ID. read-stdin.
       DATA DIVISION.
       WORKING-STORAGE SECTION.
       01 ws-char           BINARY-LONG.
       LINKAGE SECTION.
       01 ls-text           PIC X(64).
       01 ls-length         BINARY-LONG.
       PROCEDURE DIVISION USING ls-text ls-length.
           MOVE SPACES TO ls-text
           MOVE 0 TO ls-length
           PERFORM UNTIL ls-length > 63
               CALL "getchar" RETURNING ws-char
               IF ws-char < 0
                   EXIT PERFORM
               END-IF
               ADD 1 TO ls-length
               MOVE FUNCTION CHAR(ws-char + 1) TO ls-text(ls-length:1)
           END-PERFORM
           GOBACK.
       END PROGRAM read-stdin.

       IDENTIFICATION DIVISION.
       PROGRAM-ID. read-file.
       ENVIRONMENT DIVISION.
       INPUT-OUTPUT SECTION.
       FILE-CONTROL.
           SELECT in-file ASSIGN TO DYNAMIC ws-path
               ORGANIZATION IS SEQUENTIAL
               FILE STATUS IS ws-status.
       DATA DIVISION.
       FILE SECTION.
       FD in-file.
       01 in-byte           PIC X.
       WORKING-STORAGE SECTION.
       01 ws-path           PIC X(64).
       01 ws-status         PIC XX.
       LINKAGE SECTION.
       01 ls-path           PIC X(64).
       01 ls-text           PIC X(64).
       01 ls-length         BINARY-LONG.
       01 ls-found          PIC X.
       PROCEDURE DIVISION USING ls-path ls-text ls-length ls-found.
           MOVE ls-path TO ws-path
           MOVE SPACES TO ls-text
           MOVE 0 TO ls-length
           MOVE "N" TO ls-found
           OPEN INPUT in-file
           IF ws-status NOT = "00"
               GOBACK
           END-IF
           MOVE "Y" TO ls-found
           PERFORM UNTIL ls-length > 63
               READ in-file
                   AT END EXIT PERFORM
               END-READ
               ADD 1 TO ls-length
               MOVE in-byte TO ls-text(ls-length:1)
           END-PERFORM
           CLOSE in-file
           GOBACK.
       END PROGRAM read-file.
