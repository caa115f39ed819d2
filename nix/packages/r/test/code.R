source("/program/foo.R")

check <- function(passed, exit_code) {
  if (!isTRUE(passed)) quit(save = "no", status = exit_code)
}

check(identical(read_stdin(), "stdin"), 1)

args <- commandArgs(trailingOnly = TRUE)
check(length(args) == 3, 2)
wanted <- c("foo", "bar", "baz")
for (i in seq_along(wanted)) {
  check(identical(args[[i]], wanted[[i]]), 2 + i)
}

check(identical(read_file("test.txt"), "hello world"), 6)

cat("OK\n")
