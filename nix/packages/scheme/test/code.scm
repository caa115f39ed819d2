(load "foo.scm")

(define (check passed? exit-code)
  (unless passed?
    (exit exit-code)))

(check (equal? (read-stdin) "stdin") 1)

(define args (cdr (command-line)))
(check (= (length args) 3) 2)
(let loop ((args args) (wanted '("foo" "bar" "baz")) (exit-code 3))
  (unless (null? args)
    (check (equal? (car args) (car wanted)) exit-code)
    (loop (cdr args) (cdr wanted) (+ exit-code 1))))

(check (equal? (read-file "test.txt") "hello world") 6)

(display "OK")
(newline)
