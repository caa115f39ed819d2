;;;; Conformance program: the helpers come from foo.lisp, next to this file.
(load (merge-pathnames "foo.lisp" *load-truename*))

(defun check (passed exit-code)
  (unless passed
    (sb-ext:exit :code exit-code)))

(check (string= (read-stream *standard-input*) "stdin") 1)

(defparameter *args* (rest sb-ext:*posix-argv*))
(check (= (length *args*) 3) 2)
(loop for arg in *args*
      for wanted in '("foo" "bar" "baz")
      for exit-code from 3
      do (check (string= arg wanted) exit-code))

(check (equal (read-file "test.txt") "hello world") 6)

(write-line "OK")
