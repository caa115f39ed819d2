name <- readLines(file("stdin"), n = 1, warn = FALSE)
if (length(name) == 0) name <- ""
cat(sprintf("Hello, %s!\n", name))
