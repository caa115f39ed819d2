# Input helpers of the conformance program.

# All of standard input as one string, taken byte for byte.
read_stdin <- function() {
  con <- file("stdin", open = "rb")
  on.exit(close(con))
  chunks <- list()
  repeat {
    chunk <- readBin(con, "raw", n = 65536)
    if (length(chunk) == 0) break
    chunks[[length(chunks) + 1]] <- chunk
  }
  if (length(chunks) == 0) "" else rawToChar(do.call(c, chunks))
}

# The content of a file as one string, or NULL if there is no such file.
read_file <- function(path) {
  if (!file.exists(path)) return(NULL)
  rawToChar(readBin(path, "raw", n = file.info(path)$size))
}
