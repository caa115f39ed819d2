#lang racket/base
(define line (read-line (current-input-port) 'any))
(define name (if (eof-object? line) "" line))
(printf "Hello, ~a!\n" name)
