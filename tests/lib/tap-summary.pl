#!/usr/bin/perl
# tests/lib/tap-summary.pl — the filter `make check` runs prove's verbose
# output through: passing test lines and plans are dropped, everything
# else (each file's line, failures, diagnostics, prove's summary) is
# shown as it comes, and at the end every skipped test is counted and
# listed with its reason, so a skip can never pass unnoticed.
# Usage: prove -v ... 2>&1 | tap-summary.pl
use strict;
use warnings;

$| = 1;
my ($file, %skips, $n);
while (my $line = <STDIN>) {
	if ($line =~ /^(\S+\.t) \.+ ?/) {
		$file = $1;
		print "$1\n";
		next;
	}
	if ($line =~ /^ok \d+\b.*# skip\s*(.*)$/i) {
		push @{ $skips{$1 || 'no reason given'} }, $file // '?';
		next;
	}
	if ($line =~ /^1\.\.0\s*#\s*skip\S*\s*(.*)$/i) {
		push @{ $skips{"whole file: " . ($1 || 'no reason given')} }, $file // '?';
		next;
	}
	next if $line =~ /^\s*ok \d+/ || $line =~ /^\s*1\.\.\d+\s*$/;
	print $line;
}
$n += @$_ for values %skips;
if ($n) {
	print "make check: $n test(s) SKIPPED:\n";
	for my $why (sort keys %skips) {
		my %f = map { $_ => 1 } @{ $skips{$why} };
		printf "  %d x %s (%s)\n", scalar @{ $skips{$why} }, $why,
		    join(', ', sort keys %f);
	}
} else {
	print "make check: no test skipped\n";
}
