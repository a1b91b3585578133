#!/usr/bin/perl
# gate_dnsbl.t — the DNSBL client against real DNS servers on loopback:
# dnsmasq (Debian's dnsmasq-base) serving test zones, and our slowdns.pl
# behind it as a zone that answers too late. Driven through
# tests/gate/dnsbl_probe.c. Covers weights, answer filters, allow zones,
# IPv6 nibble names, TCP fallback on a truncated reply, the deadline (a
# slow zone counts as not listed and is logged), the TTL cache, and an
# unreachable resolver. Loopback only; every step bounded in time.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use MxTest;

my $dnsmasq = (grep { -x } qw(/usr/sbin/dnsmasq /usr/bin/dnsmasq))[0];
plan skip_all => 'dnsmasq not installed (deps/packages: dnsmasq-base)'
    unless $dnsmasq;
my $probe = out_dir() . '/tests/bin/dnsbl_probe';
ok(-x $probe, 'dnsbl_probe built') or BAIL_OUT("no $probe");

my $dir = tmpdir();
my $top = $ENV{MXGATE_TOP} // '.';
my @kill;
END { kill 'TERM', @kill if @kill; waitpid($_, 0) for @kill; }

# a free UDP+TCP port on 127.0.0.1

# one A query; true when any reply comes back within the time
sub dns_ready {
	my ($port, $name) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, Proto => 'udp') or return 0;
	my $q = pack('nnnnnn', 4242, 0x0100, 1, 0, 0, 0) .
	    join('', map { chr(length) . $_ } split /\./, $name) .
	    "\0" . pack('nn', 1, 1);
	$s->send($q);
	return IO::Select->new($s)->can_read(0.3) ? 1 : 0;
}

# the slow zone's server
my $slow_port = free_port(udp => 1);
my $slow_pid = fork // die;
if ($slow_pid == 0) {
	open STDOUT, '>', '/dev/null';
	exec $^X, "$top/tests/gate/slowdns.pl", $slow_port, 2500;
	exit 127;
}
push @kill, $slow_pid;

# dnsmasq with the test zones; unknown names in them are NXDOMAIN
my $port = free_port(udp => 1);
my @big = map { "--host-record=2.0.0.127.big.test,127.0.0.$_" } 1 .. 40;
my $v6 = join('.', reverse split //, '20010db8000000000000000000000002');
my @args = ($dnsmasq, '--keep-in-foreground', '--no-resolv', '--no-hosts',
    "--port=$port", '--listen-address=127.0.0.1', '--bind-interfaces',
    '--pid-file=', '--conf-file=/dev/null', '--local-ttl=60',
    "--log-facility=$dir/dnsmasq.log", '--log-queries',
    (map { "--local=/$_/" } qw(bl.test two.test wl.test big.test)),
    '--address=/2.0.0.127.bl.test/127.0.0.2',
    '--address=/3.0.0.127.bl.test/127.0.0.3',
    "--address=/$v6.bl.test/127.0.0.2",
    '--address=/2.0.0.127.two.test/127.0.0.10',
    '--address=/5.0.0.127.wl.test/127.0.0.2',
    '--txt-record=2.0.0.127.bl.test,"listed for testing"',
    "--server=/slow.test/127.0.0.1#$slow_port",
    @big);
my $dm_pid = fork // die;
if ($dm_pid == 0) {
	open STDERR, '>', "$dir/dnsmasq.err";
	exec @args;
	exit 127;
}
push @kill, $dm_pid;
my $up = 0;
for (1 .. 20) {
	last if ($up = dns_ready($port, '2.0.0.127.bl.test'));
	sleep 0.1;
}
ok($up, "dnsmasq answers on 127.0.0.1:$port")
    or BAIL_OUT('dnsmasq: ' . (read_file("$dir/dnsmasq.err") // ''));

my @zones = ('-z', 'bl.test=127.0.0.2,127.0.0.[10..11]:3', '-z', 'two.test:2',
    '-z', 'slow.test:5', '-a', 'wl.test:-10', '-z', 'big.test:1');
my @ips = qw(127.0.0.2 127.0.0.3 127.0.0.5 127.0.0.9 2001:db8::2);

my $t0 = time;
my ($rc, $out, $err) = run($probe, '-r', "127.0.0.1:$port", @zones,
    '-t', 3, '-T', 800, '-R', 300, '-n', 2, @ips);
my $took = time - $t0;
is($rc, 0, 'probe ran') or diag $err;
my @lines = split /\n/, $out;
is(scalar @lines, 11, '2 rounds of 5 addresses and a stats line')
    or diag $out;
my %r;
$r{(split / /, $_)[0]} //= $_ for @lines[0 .. 4];

like($r{'127.0.0.2'}, qr/^127\.0\.0\.2 listed=1 rank 6 /,
    'listed: 3 + 2 + 1 reaches threshold 3');
like($r{'127.0.0.2'}, qr/ bl\.test\(3\)=127\.0\.0\.2 two\.test\(2\)=127\.0\.0\.10 big\.test\(1\)=127\.0\.0\.\d+ /,
    'each listing zone with its weight and answer');
like($r{'127.0.0.2'}, qr/ timeout slow\.test /,
    'the slow zone timed out and counts as not listed');
my ($el) = $r{'127.0.0.2'} =~ /elapsed=(\d+)/;
ok($el >= 790 && $el < 1500, "result at the 800 ms deadline ($el ms)");
like($r{'127.0.0.3'}, qr/listed=0 rank 0 /,
    '127.0.0.3 answer removed by the =127.0.0.2,127.0.0.[10..11] filter');
like($r{'127.0.0.5'}, qr/listed=0 rank -10 wl\.test\(-10\)=127\.0\.0\.2/,
    'allow zone gives a negative score');
like($r{'127.0.0.9'}, qr/listed=0 rank 0 timeout slow\.test elapsed/,
    'unlisted address: NXDOMAIN everywhere but the slow zone');
like($r{'2001:db8::2'}, qr/listed=1 rank 3 bl\.test\(3\)=127\.0\.0\.2/,
    'IPv6 client found under its nibble name');
is_deeply([ map { s/ elapsed=\d+//r } @lines[5 .. 9] ],
    [ map { s/ elapsed=\d+//r } @lines[0 .. 4] ],
    'second round gives the same verdicts');
like($lines[10], qr/ hits=20 /, 'second round: 4 zones x 5 addresses '
    . 'from the cache (timeouts are not cached)');
like($lines[10], qr/ tcp=[1-9]/, 'truncated reply (40 A records) '
    . 'fetched over TCP');
like($err, qr/log: dnsbl: 2\.0\.0\.127\.slow\.test: no answer after/,
    'the timed-out lookup is logged');
ok($took < 6, sprintf('whole run bounded (%.1f s)', $took));

my $log = read_file("$dir/dnsmasq.log") // '';
like($log, qr/query\[A\] 2\.0\.0\.127\.bl\.test from 127\.0\.0\.1/,
    'dnsmasq saw our queries');
like($log, qr/forwarded 2\.0\.0\.127\.slow\.test to 127\.0\.0\.1#$slow_port/,
    'slow zone forwarded to slowdns.pl');

# threshold above the score: reported but not listed
($rc, $out) = run($probe, '-r', "127.0.0.1:$port", @zones, '-t', 7,
    '-T', 500, '127.0.0.2');
like($out, qr/^127\.0\.0\.2 listed=0 rank 6 /m, 'rank 6 < threshold 7');

# nobody listening: every zone times out, nothing is listed, bounded
my $dead = free_port(udp => 1);
$t0 = time;
($rc, $out, $err) = run($probe, '-r', "127.0.0.1:$dead", '-z', 'bl.test:3',
    '-t', 1, '-T', 400, '-R', 100, '127.0.0.2');
like($out, qr/^127\.0\.0\.2 listed=0 rank 0 timeout bl\.test elapsed=\d+$/m,
    'unreachable resolver: not listed, reported as timeout');
ok(time - $t0 < 3, 'and bounded by the deadline');

# the probe refuses to run without a resolver (no public default)
($rc, $out, $err) = run($probe, '-z', 'bl.test:3', '127.0.0.2');
isnt($rc, 0, 'no resolver: refused');
like($err, qr/no public resolver/, 'and says why');

done_testing();
