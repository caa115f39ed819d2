<?php

require_once __DIR__ . '/foo.php';

if (stream_get_contents(STDIN) !== 'stdin') {
    exit(1);
}

$args = array_slice($argv, 1);
if (count($args) !== 3) {
    exit(2);
}
foreach (['foo', 'bar', 'baz'] as $index => $wanted) {
    if ($args[$index] !== $wanted) {
        exit(3 + $index);
    }
}

if (read_text('test.txt') !== 'hello world') {
    exit(6);
}

echo "OK\n";
