(let ((name (read-line *standard-input* nil "")))
  (format t "Hello, ~a!~%" name))
