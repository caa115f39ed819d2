#lang racket/base
;; Input helpers of the conformance program.
(require racket/port)
(provide read-stdin read-file)

;; All of standard input as a string.
(define (read-stdin)
  (port->string (current-input-port)))

;; The content of a file as a string, or #f if there is no such file.
(define (read-file path)
  (and (file-exists? path)
       (call-with-input-file path port->string)))
