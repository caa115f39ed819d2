defmodule Foo do
  @moduledoc "Input helpers of the conformance program."

  @doc "All of standard input, or :eof if it is empty."
  def read_stdin, do: IO.read(:stdio, :eof)

  @doc "The content of a file as {:ok, text} or {:error, reason}."
  def read_file(path), do: File.read(path)
end
