#!/usr/bin/perl
# slowdns.pl — a tiny UDP DNS server for the gate tests: answers every A
# query with 127.0.0.2 (TTL 60), but only after DELAY_MS, so a DNSBL
# lookup through it misses its deadline. Loopback only; core Perl only.
#
#   slowdns.pl PORT DELAY_MS [PIDFILE]
#
# Prints "ready PORT" on stdout once bound. Ends on SIGTERM, or by itself
# after 120 s so a crashed test never leaves it behind.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my ($port, $delay_ms, $pidfile) = @ARGV;
die "usage: slowdns.pl PORT DELAY_MS [PIDFILE]\n"
    unless defined $delay_ms && $port =~ /^\d+$/ && $delay_ms =~ /^\d+$/;
my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $port, Proto => 'udp') or die "slowdns: bind: $!\n";
if (defined $pidfile) {
	open my $fh, '>', $pidfile or die "$pidfile: $!";
	print $fh "$$\n";
	close $fh;
}
$| = 1;
print "ready $port\n";
my $sel = IO::Select->new($sock);
my @pending;		# [due, peer, reply]
my $end = time + 120;
$SIG{TERM} = sub { exit 0 };

sub reply_for {
	my ($q) = @_;
	return undef if length($q) < 17;
	my $id = substr($q, 0, 2);
	# the question: labels up to the root, then type and class
	my $p = 12;
	while ($p < length($q)) {
		my $l = ord(substr($q, $p, 1));
		last if $l == 0;
		return undef if $l > 63;
		$p += 1 + $l;
	}
	return undef if $p + 5 > length($q);
	my $question = substr($q, 12, $p + 5 - 12);
	my $hdr = $id . pack('nnnnn', 0x8180, 1, 1, 0, 0);
	my $rr = pack('n', 0xc00c) . pack('nnNn', 1, 1, 60, 4) .
	    pack('C4', 127, 0, 0, 2);
	return $hdr . $question . $rr;
}

while (time < $end) {
	my $wait = 0.2;
	if (@pending) {
		my $d = $pending[0][0] - time;
		$wait = $d < 0 ? 0 : ($d < $wait ? $d : $wait);
	}
	if ($sel->can_read($wait)) {
		my $q;
		my $peer = $sock->recv($q, 512);
		if (defined $peer) {
			my $r = reply_for($q);
			push @pending, [time + $delay_ms / 1000, $peer, $r]
			    if defined $r;
			@pending = sort { $a->[0] <=> $b->[0] } @pending;
		}
	}
	while (@pending && $pending[0][0] <= time) {
		my $p = shift @pending;
		$sock->send($p->[2], 0, $p->[1]);
	}
}
exit 0;
