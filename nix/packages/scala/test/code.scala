object FooBar {
  def main(args: Array[String]): Unit = {
    if (Foo.readStdin() != "stdin") sys.exit(1)
    if (args.length != 3) sys.exit(2)
    for ((want, i) <- Seq("foo", "bar", "baz").zipWithIndex) {
      if (args(i) != want) sys.exit(3 + i)
    }
    if (!Foo.readFile("test.txt").contains("hello world")) sys.exit(6)
    println("OK")
  }
}
