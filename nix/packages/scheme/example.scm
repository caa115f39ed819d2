(use-modules (ice-9 rdelim))

(define line (read-line))
(define name (if (eof-object? line) "" line))
(display (string-append "Hello, " name "!"))
(newline)
