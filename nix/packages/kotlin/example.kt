fun main() {
    val name = readLine() ?: ""
    println("Hello, $name!")
}
