#lang racket/base
(require "foo.rkt")

(define (check passed? exit-code)
  (unless passed?
    (exit exit-code)))

(check (equal? (read-stdin) "stdin") 1)

(define args (vector->list (current-command-line-arguments)))
(check (= (length args) 3) 2)
(for ([arg (in-list args)]
      [wanted (in-list '("foo" "bar" "baz"))]
      [exit-code (in-naturals 3)])
  (check (equal? arg wanted) exit-code))

(check (equal? (read-file "test.txt") "hello world") 6)

(displayln "OK")
