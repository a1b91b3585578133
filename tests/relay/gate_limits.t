#!/usr/bin/perl
# gate_limits.t — the gate end to end under 2 front workers sharing one
# region (tests/gate/gate_server.c runs the pre-banner flow the session
# uses), with dnsmasq on loopback as the DNSBL: every verdict reached and
# logged (PASS NEW, PASS OLD, ALLOW, BLOCK, DNSBL, PREGREET, LIMIT conn,
# LIMIT global, LIMIT rate, DICTIONARY, TEMPBLOCK), the per-IP limit exact
# across workers, the allowlisted client passing every test, and 2,000
# idle connections while a normal client finishes a dialogue within a
# second. Clients are 127.0.0.X source addresses; loopback only.
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
my $server = out_dir() . '/tests/bin/gate_server';
ok(-x $server, 'gate_server built') or BAIL_OUT("no $server");
my $dir = tmpdir();
my @kill;
END { kill 'TERM', @kill if @kill; waitpid($_, 0) for @kill; }


sub spawn {
	my ($out, @argv) = @_;
	my $pid = fork // die;
	if ($pid == 0) {
		open STDOUT, '>', $out or die;
		open STDERR, '>>', "$out.err" or die;
		exec @argv;
		exit 127;
	}
	push @kill, $pid;
	return $pid;
}

sub wait_for_file {
	my ($path, $re, $secs) = @_;
	my $end = time + $secs;
	while (time < $end) {
		my $t = read_file($path) // '';
		return $1 // $t if $t =~ $re;
		sleep 0.05;
	}
	return undef;
}

# next CRLF line from a socket within $secs; '' on EOF, undef on timeout.
# Bytes after the line stay buffered for the next call.
my %rest;
sub line_of {
	my ($s, $secs) = @_;
	my $buf = \$rest{"$s"};
	$$buf //= '';
	my $sel = IO::Select->new($s);
	my $end = time + $secs;
	while (1) {
		return $1 if $$buf =~ s/^(.*?\r\n)//s;
		my $left = $end - time;
		return undef if $left <= 0 || !$sel->can_read($left);
		my $n = sysread($s, $$buf, 4096, length $$buf);
		if (!$n) {
			my $t = $$buf;
			$$buf = '';
			return $t;
		}
	}
}

sub client {
	my ($port, $ip) = @_;
	my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, LocalAddr => $ip, Proto => 'tcp',
	    Timeout => 3) or die "connect from $ip: $!";
	return $c;
}

sub server_log { read_file($_[0]) // '' }

# --- DNS: dnsmasq with bl.test listing 127.0.0.2 and 127.0.0.50 ----------
my $dport = free_port(udp => 1);
spawn("$dir/dnsmasq.out", $dnsmasq, '--keep-in-foreground', '--no-resolv',
    '--no-hosts', "--port=$dport", '--listen-address=127.0.0.1',
    '--bind-interfaces', '--pid-file=', '--conf-file=/dev/null',
    '--local-ttl=60', '--local=/bl.test/',
    '--address=/2.0.0.127.bl.test/127.0.0.2',
    '--address=/50.0.0.127.bl.test/127.0.0.2');

# --- scenario 1: every verdict, 2 workers ---------------------------------
my $conf = write_file("$dir/gate.conf", <<"CONF");
listen 127.0.0.1:2525
route example.test 127.0.0.1:2526
allow 127.0.0.50
block 127.0.0.66
max_sessions 8
resolver 127.0.0.1:$dport
dnsbl bl.test 3
dnsbl_threshold 3
CONF
my $log = "$dir/gate1.log";
spawn($log, $server, '-f', $conf, '-w', 2, '-P', 300, '-i', 3, '-n', 1000,
    '-r', 6, '-R', 0, '-u', 3, '-T', 500);
my $port = wait_for_file($log, qr/^ready (\d+)$/m, 5);
ok($port, 'gate_server with 2 workers is listening')
    or BAIL_OUT(read_file("$log.err") // 'no output');

# PASS NEW after the pregreet wait, then PASS OLD at once
my $t0 = time;
my $c = client($port, '127.0.0.10');
like(line_of($c, 3), qr/^220 /, 'new client gets the banner');
my $waited = time - $t0;
ok($waited >= 0.28, sprintf('... after the pregreet wait (%.2f s)', $waited));
print $c "QUIT\r\n"; line_of($c, 2); close $c;
$t0 = time;
$c = client($port, '127.0.0.10');
like(line_of($c, 3), qr/^220 /, 'passed client reconnects');
ok(time - $t0 < 0.25, sprintf('... and gets the banner at once (%.2f s)',
    time - $t0));
close $c;

# PREGREET
$c = client($port, '127.0.0.7');
print $c "EHLO early.test\r\n";
is(line_of($c, 3), '', 'client talking first is dropped without a banner');
close $c;

# DNSBL
$c = client($port, '127.0.0.2');
like(line_of($c, 3), qr/^554 5\.7\.1 .*\[127\.0\.0\.2\] blocked using DNSBL/,
    'DNSBL-listed client refused 554 5.7.1');
close $c;

# BLOCK
$c = client($port, '127.0.0.66');
like(line_of($c, 3), qr/^554 5\.7\.1 .*blocked by local policy/,
    'block list: 554 5.7.1');
close $c;

# LIMIT conn: 5 at once from one IP, limit 3, across both workers
my @held = map { client($port, '127.0.0.20') } 1 .. 5;
my @first = map { line_of($_, 3) // 'timeout' } @held;
is(scalar(grep { /^220 / } @first), 3, 'per-IP limit 3: three banners');
is(scalar(grep { /^421 4\.7\.0 Too many connections/ } @first), 2,
    '... and two 421 4.7.0');
@held = grep { defined } map { $first[$_] =~ /^220/ ? $held[$_] : undef }
    0 .. 4;

# LIMIT global: 8 sessions
push @held, map { client($port, "127.0.0.$_") } 21 .. 25;
is(scalar(grep { (line_of($_, 3) // '') =~ /^220 / } @held[3 .. 7]), 5,
    'five more clients: 8 sessions');
$c = client($port, '127.0.0.26');
like(line_of($c, 3), qr/^421 4\.7\.0 Server busy/, 'session cap: 421 4.7.0');
close $c;

# ALLOW: listed in the DNSBL, cap full, talks first: still passes
$t0 = time;
$c = client($port, '127.0.0.50');
print $c "EHLO early.test\r\n";
like(line_of($c, 3), qr/^220 /, 'allowlisted client passes every test');
ok(time - $t0 < 0.25, '... with no wait');
like(line_of($c, 3), qr/^250 /, '... and its early command is answered');
close $c;
close $_ for @held;
@held = ();
sleep 0.3;

# DICTIONARY then TEMPBLOCK
$c = client($port, '127.0.0.40');
like(line_of($c, 3), qr/^220 /, 'dictionary client connects');
my @r;
for my $i (1 .. 3) {
	print $c "RCPT TO:<unknown$i\@example.test>\r\n";
	push @r, line_of($c, 3) // 'timeout';
}
like($r[0], qr/^550 /, 'unknown recipient: 550');
like($r[2], qr/^421 4\.7\.0 Too many unknown recipients/,
    'third unknown recipient: 421 and disconnect');
is(line_of($c, 2), '', '... connection closed');
close $c;
$c = client($port, '127.0.0.40');
like(line_of($c, 3), qr/^421 4\.7\.0 \[127\.0\.0\.40\] temporarily blocked/,
    'the dictionary attacker is blocked on its next connection');
close $c;

# LIMIT rate: 6 per minute per IP
my @rate;
for (1 .. 7) {
	my $s = client($port, '127.0.0.30');
	print $s "QUIT\r\n";	# a pregreet: closes fast, the token is spent
	push @rate, line_of($s, 3) // 'timeout';
	close $s;
}
like($rate[6], qr/^421 4\.7\.0 Connection rate limit/,
    '7th connection in a minute: 421 rate limit');

# the log: one verdict line per decision, both workers at work
sleep 0.2;
my $l = server_log($log);
my @want = (
    qr/^worker\d: PASS NEW \[127\.0\.0\.10\] rank 0$/m,
    qr/^worker\d: PASS OLD \[127\.0\.0\.10\]$/m,
    qr/^worker\d: PREGREET \[127\.0\.0\.7\] after \d+ ms$/m,
    qr/^worker\d: DNSBL \[127\.0\.0\.2\] rank 3 bl\.test\(3\)=127\.0\.0\.2$/m,
    qr/^worker\d: BLOCK \[127\.0\.0\.66\] cidr 127\.0\.0\.66\/32$/m,
    qr/^worker\d: LIMIT conn \[127\.0\.0\.20\] ip 3\/3$/m,
    qr/^worker\d: LIMIT global \[127\.0\.0\.26\] sessions 8\/8$/m,
    qr/^worker\d: ALLOW \[127\.0\.0\.50\] cidr 127\.0\.0\.50\/32$/m,
    qr/^worker\d: DICTIONARY \[127\.0\.0\.40\] 3 unknown recipients, blocked 600 s$/m,
    qr/^worker\d: TEMPBLOCK \[127\.0\.0\.40\] dictionary attack \(3 unknown rcpt\), \d+ s left$/m,
    qr/^worker\d: LIMIT rate \[127\.0\.0\.30\] ip 6\/min$/m,
);
like($l, $_, "logged: $_") for @want;
my @limit20 = $l =~ /^worker\d: LIMIT conn \[127\.0\.0\.20\]/mg;
is(scalar @limit20, 2, 'exactly two LIMIT conn lines for 127.0.0.20');
ok($l =~ /^worker0: /m && $l =~ /^worker1: /m,
    'both workers handled connections');
unlike($l, qr/^worker\d: (?!PASS|PREGREET|DNSBL|BLOCK|LIMIT|ALLOW|DICTIONARY|TEMPBLOCK)/m,
    'nothing else logged') or diag $l;

# --- scenario 2: 2,000 idle connections and one normal sender -----------
my $conf2 = write_file("$dir/gate2.conf", <<"CONF");
listen 127.0.0.1:2525
route example.test 127.0.0.1:2526
max_sessions 5000
CONF
my $log2 = "$dir/gate2.log";
spawn($log2, $server, '-f', $conf2, '-w', 2, '-P', 200, '-i', 5000,
    '-n', 5000, '-r', 0, '-R', 0, '-C', 30000);
my $port2 = wait_for_file($log2, qr/^ready (\d+)$/m, 5);
ok($port2, 'second gate_server listening');
my @idle;
for my $i (1 .. 2000) {
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port2, LocalAddr => '127.0.0.100', Proto => 'tcp',
	    Timeout => 3);
	last unless $s;
	push @idle, $s;
}
is(scalar @idle, 2000, '2,000 idle connections open');
$t0 = time;
$c = client($port2, '127.0.0.101');
my @dialogue;
push @dialogue, line_of($c, 3) // 'timeout';
for my $cmd ('EHLO sender.test', 'MAIL FROM:<a@sender.test>',
    'RCPT TO:<b@example.test>', 'DATA') {
	print $c "$cmd\r\n";
	push @dialogue, line_of($c, 3) // 'timeout';
}
print $c "Subject: t\r\n\r\nhello\r\n.\r\n";
push @dialogue, line_of($c, 3) // 'timeout';
print $c "QUIT\r\n";
push @dialogue, line_of($c, 3) // 'timeout';
my $took = time - $t0;
like($dialogue[5], qr/^250 2\.0\.0 Ok: queued/, 'normal sender\'s message '
    . 'accepted') or diag explain \@dialogue;
ok($took < 1.0, sprintf('... within a second beside 2,000 idle '
    . 'connections (%.2f s)', $took));
my $n = 0;
for (1 .. 60) {
	$n = () = server_log($log2) =~ /PASS (?:NEW|OLD) \[127\.0\.0\.100\]/g;
	last if $n >= 2000;
	sleep 0.1;
}
is($n, 2000, 'all 2,000 idle clients admitted and logged');
close $_ for @idle;

done_testing();
