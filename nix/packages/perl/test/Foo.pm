package Foo;

use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(read_all read_file);

# Everything left on a file handle.
sub read_all {
    my ($handle) = @_;
    local $/;
    my $content = <$handle>;
    return defined $content ? $content : '';
}

# The content of a file, or undef if it cannot be opened.
sub read_file {
    my ($path) = @_;
    open(my $handle, '<', $path) or return undef;
    my $content = read_all($handle);
    close($handle);
    return $content;
}

1;
