<?php

// The whole content of a file, or null if it cannot be read.
function read_text(string $path): ?string
{
    if (!is_readable($path)) {
        return null;
    }
    $content = file_get_contents($path);
    return $content === false ? null : $content;
}
