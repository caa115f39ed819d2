import java.io.IOException
import java.nio.charset.StandardCharsets
import java.nio.file.{Files, Paths}

object Foo {
  /** All of stdin as text. */
  def readStdin(): String = scala.io.Source.stdin.mkString

  /** A file's text, or None if it cannot be read. */
  def readFile(path: String): Option[String] =
    try Some(new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8))
    catch { case _: IOException => None }
}
