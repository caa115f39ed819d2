;;;; Input helpers of the conformance program.

(defun read-stream (stream)
  "The rest of STREAM as a string."
  (with-output-to-string (out)
    (loop for char = (read-char stream nil)
          while char
          do (write-char char out))))

(defun read-file (path)
  "The content of the file at PATH as a string, or NIL if there is no such file."
  (with-open-file (in path :if-does-not-exist nil)
    (and in (read-stream in))))
