object Example {
  def main(args: Array[String]): Unit = {
    val name = Option(scala.io.StdIn.readLine()).getOrElse("")
    println(s"Hello, $name!")
  }
}
