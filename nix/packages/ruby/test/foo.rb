# Small helpers for the conformance check.
module Foo
  # The content of a file, or nil if it cannot be read.
  def self.read_text(path)
    File.read(path)
  rescue SystemCallError
    nil
  end
end
