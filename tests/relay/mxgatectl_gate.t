#!/usr/bin/perl
# mxgatectl_gate.t — `mxgatectl gate` on a running relay: the counters and
# top talkers of the shared admission table, and run-time block/allow
# entries that every worker honours at once, each change in the audit log.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use MxTest;
use MxSMTP;

plan skip_all => 'needs root (the roles drop to their own users)' if $> != 0;

my $ctl = bin('mxgatectl');
my $sink = start_sink();
my $mx = start_mxgate(config => 'route example.test 127.0.0.1:' . $sink->port . "\n");
my $audit = "$mx->{dir}/audit.log";
my @a = ('-f', $mx->conf, '-a', $audit);

sub banner_from {
	my ($src) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mx->port,
	    LocalAddr => $src, Timeout => 5) or return "connect: $!";
	my $l = <$s> // 'closed';
	close $s;
	return $l;
}

like(banner_from('127.0.0.21'), qr/^220 /, '127.0.0.21 gets the banner');
my ($rc, $out, $err) = run($ctl, @a, 'gate');
is($rc, 0, 'mxgatectl gate: exit 0') or diag $err;
like($out, qr/^  PASS NEW\s+1$/m, 'the verdict counters are shown');
like($out, qr/^top talkers:\n(?:.*\n)*?  127\.0\.0\.21\s+live \d+  total 1/m,
    'the client is among the top talkers');

($rc, $out, $err) = run($ctl, @a, 'gate', 'block', '127.0.0.22/32');
is($rc, 0, 'gate block CIDR: exit 0') or diag $err;
like(banner_from('127.0.0.22'), qr/^554 5\.7\.1 /, 'the blocked client is refused at once');
like(banner_from('127.0.0.23'), qr/^220 /, 'a neighbour is not');
like(read_file($audit) // '', qr/op=block arg=127\.0\.0\.22\/32 result=ok/,
    'the change is in the audit log');
($rc) = run($ctl, @a, 'gate', 'unblock', '127.0.0.22/32');
is($rc, 0, 'gate unblock CIDR');
like(banner_from('127.0.0.22'), qr/^220 /, 'and it is admitted again');
($rc, $out, $err) = run($ctl, @a, 'gate', 'block', 'not-a-cidr');
is($rc, 100, 'a bad CIDR is a usage error (100)');
like($err, qr/not an address/, 'with a clear message');
($rc, $out, $err) = run($ctl, @a, 'gate', 'frobnicate', 'x');
is($rc, 100, 'an unknown operation is refused');
$mx->stop;
$sink->stop;
done_testing();
