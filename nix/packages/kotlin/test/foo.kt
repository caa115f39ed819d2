package foo

import java.io.File
import java.io.IOException

/** All of stdin as text. */
fun readStdin(): String = System.`in`.bufferedReader().readText()

/** A file's text, or null if it cannot be read. */
fun readFileOrNull(path: String): String? =
    try {
        File(path).readText()
    } catch (e: IOException) {
        null
    }
