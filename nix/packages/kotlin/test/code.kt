import foo.readFileOrNull
import foo.readStdin
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    if (readStdin() != "stdin") {
        exitProcess(1)
    }
    if (args.size != 3) {
        exitProcess(2)
    }
    listOf("foo", "bar", "baz").forEachIndexed { i, want ->
        if (args[i] != want) {
            exitProcess(3 + i)
        }
    }
    if (readFileOrNull("test.txt") != "hello world") {
        exitProcess(6)
    }
    println("OK")
}
