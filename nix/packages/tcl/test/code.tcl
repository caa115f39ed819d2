source [file join [file dirname [info script]] foo.tcl]

if {[read_channel stdin] ne "stdin"} {
    exit 1
}

if {$argc != 3} {
    exit 2
}
set status 3
foreach got $argv wanted {foo bar baz} {
    if {$got ne $wanted} {
        exit $status
    }
    incr status
}

if {[read_file test.txt] ne [list "hello world"]} {
    exit 6
}

puts OK
