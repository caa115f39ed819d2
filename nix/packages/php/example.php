<?php
$name = trim((string) fgets(STDIN));
echo "Hello, $name!\n";
