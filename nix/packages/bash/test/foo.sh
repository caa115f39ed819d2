bar() {
    echo OK
}
