# The content of a channel or file; an empty list for a file that cannot be opened.
proc read_channel {channel} {
    fconfigure $channel -translation binary
    return [read $channel]
}

proc read_file {path} {
    if {[catch {open $path r} channel]} {
        return {}
    }
    set content [read_channel $channel]
    close $channel
    return [list $content]
}
