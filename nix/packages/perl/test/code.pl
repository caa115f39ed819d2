use strict;
use warnings;

use Foo qw(read_all read_file);

exit 1 unless read_all(\*STDIN) eq 'stdin';

exit 2 unless @ARGV == 3;
my @wanted = qw(foo bar baz);
for my $index (0 .. $#wanted) {
    exit 3 + $index unless $ARGV[$index] eq $wanted[$index];
}

my $text = read_file('test.txt');
exit 6 unless defined $text && $text eq 'hello world';

print "OK\n";
