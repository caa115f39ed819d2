;; Input helpers of the conformance program.
(use-modules (ice-9 textual-ports))

;; All of standard input as a string ("" when it is empty).
(define (read-stdin)
  (let ((text (get-string-all (current-input-port))))
    (if (eof-object? text) "" text)))

;; The content of a file as a string, or #f if there is no such file.
(define (read-file path)
  (and (file-exists? path)
       (call-with-input-file path get-string-all)))
