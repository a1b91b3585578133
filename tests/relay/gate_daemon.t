#!/usr/bin/perl
# gate_daemon.t — the gate (SPEC 3.4, docs/GATING.md) through the
# real daemon, out/bin/mxgate with `workers 2` and its jail, smtp-sink as
# the customer's server and dnsmasq (+ tests/gate/slowdns.pl behind it)
# as the DNSBL on loopback:
#  1. every verdict reached and logged: ALLOW, BLOCK (reply and drop),
#     PREGREET, DNSBL (listed, and a slow zone that times out), LIMIT conn,
#     LIMIT rate, LIMIT global, DICTIONARY then TEMPBLOCK, PASS NEW (after
#     the pregreet wait) and PASS OLD (banner at once);
#  2. the per-IP concurrency limit exact across both workers;
#  3. 2,000 idle connections while a normal sender's message goes through
#     to smtp-sink within a second (the latency is printed);
#  4. the allowlisted client passes every test;
#  5. the per-message filter line carries the verdict and DNSBL score;
# and also: a slow-drip DATA cut after the grace (SLOW DATA), a hangup
# during the pregreet wait, and SIGHUP applying a new block entry to the
# new generation of workers.
# Clients are 127.0.0.X source addresses (all of 127/8 is loopback). Every
# wait is bounded; every process started here is stopped at the end.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;

plan skip_all => 'needs root (the roles drop to their own users)' if $> != 0;
my $dnsmasq = (grep { -x } qw(/usr/sbin/dnsmasq /usr/bin/dnsmasq))[0];
plan skip_all => 'dnsmasq not installed (deps/packages: dnsmasq-base)'
    unless $dnsmasq;
ok(-x bin('mxgate'), 'mxgate built') or BAIL_OUT('no ' . bin('mxgate'));

my $T0 = time;
my $top = $ENV{MXGATE_TOP} // '.';
my $dir = tmpdir();
chmod 0755, $dir;
my @daemons;		# MxSMTP::Gate objects, for the END below
my %worker_pids;	# every worker pid seen, checked gone at the end

# mxgate's parent runs in its own process group (MxSMTP::spawn); if the
# test dies, kill the whole group so no worker, jail or queue role stays.
END {
	local $?;
	for my $d (@daemons) {
		kill 'KILL', -$d->pid if $d->alive;
	}
}

# --- helpers ---------------------------------------------------------------

# A TCP client from source address $ip; undef when the connect fails.
sub cli {
	my ($port, $ip) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, LocalAddr => $ip, Proto => 'tcp', Timeout => 3);
	$s->autoflush(1) if $s;
	return $s;
}

# The next CRLF line within $secs: '' on EOF or reset with nothing
# buffered, undef on timeout. Later bytes stay buffered.
my %rest;
sub line_of {
	my ($s, $secs) = @_;
	my $buf = \$rest{"$s"};
	$$buf //= '';
	my $sel = IO::Select->new($s);
	my $end = time + ($secs // 3);
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

# One whole reply (the lines of a multi-line reply joined); '' on EOF,
# undef on timeout.
sub reply_of {
	my ($s, $secs) = @_;
	my $r = '';
	while (1) {
		my $l = line_of($s, $secs);
		return $r eq '' ? $l : $r unless defined $l && $l ne '';
		$r .= $l;
		return $r if $l =~ /^\d{3}(?: |\r)/;
	}
}

sub cmd {
	my ($s, $line, $secs) = @_;
	local $SIG{PIPE} = 'IGNORE';
	print $s "$line\r\n";
	return reply_of($s, $secs) // 'timeout';
}

sub done_with {
	my ($s) = @_;
	delete $rest{"$s"};
	close $s;
}

# A whole mail dialogue after the banner; returns the reply to the message
# (or the first unexpected reply).
sub send_msg {
	my ($s, $tag, $rcpt) = @_;
	$rcpt //= 'alice@example.test';
	for my $c ('EHLO client.test', 'MAIL FROM:<bob@sender.test>',
	    "RCPT TO:<$rcpt>") {
		my $r = cmd($s, $c);
		return $r unless $r =~ /^250[ -]/;
	}
	my $r = cmd($s, 'DATA');
	return $r unless $r =~ /^354 /;
	return cmd($s, "Subject: $tag\r\nMessage-Id: <$tag\@sender.test>\r\n"
	    . "\r\nbody $tag\r\n.", 5);
}

# Lines of mxgate's log after the offset $from (a byte count).
sub log_since {
	my ($mx, $from) = @_;
	return substr($mx->log, $from // 0);
}

# Waits until every session the daemon logged as connected has also
# logged its disconnect, so that the gate's live counts are back to zero.
sub settle {
	my ($mx) = @_;
	return MxSMTP::wait_until(5, sub {
		my $l = $mx->log;
		my $c = () = $l =~ /: connect from /g;
		my $d = () = $l =~ /: disconnect from /g;
		$c == $d;
	});
}

sub workers_of {
	my ($mx) = @_;
	my %w;
	my $l = $mx->log;
	$w{$2} = $1 while $l =~ /mxgate\/smtpd\[(\d+)\]: worker (\d+) ready/g;
	$worker_pids{$_} = 1 for values %w;
	return \%w;
}

sub start_gate {
	my ($name, $conf) = @_;
	my $mx = eval { start_mxgate(config => $conf) };
	if (!$mx) {
		fail("$name: mxgate starts");
		diag $@;
		return undef;
	}
	push @daemons, $mx;
	my $ok = MxSMTP::wait_until(10, sub { keys %{ workers_of($mx) } >= 2 });
	ok($ok, "$name: mxgate up with 2 workers")
	    or diag $mx->log;
	return $mx;
}

sub stop_gate {
	my ($name, $mx) = @_;
	my $st = $mx->stop;
	ok(defined $st && ($st >> 8) == 0, "$name: SIGTERM, mxgate exits 0")
	    or diag 'status ' . ($st // 'none');
}

# --- DNS: dnsmasq serving the test zones, slow.test forwarded to slowdns -----

sub dns_port {
	for (1 .. 50) {
		my $p = 20000 + int(rand(12000));
		my $u = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
		    LocalPort => $p, Proto => 'udp') or next;
		my $t = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
		    LocalPort => $p, Proto => 'tcp', Listen => 1,
		    ReuseAddr => 1) or next;
		return $p;
	}
	die "no free port";
}

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

my $slow_port = dns_port();
MxSMTP::spawn('slowdns', "$dir/slowdns.log", $^X,
    "$top/tests/gate/slowdns.pl", $slow_port, 3000);
my $dport = dns_port();
# no cache: a late answer of the slow zone must not turn into a fast one
MxSMTP::spawn('dnsmasq', "$dir/dnsmasq.err", $dnsmasq,
    '--keep-in-foreground', '--no-resolv', '--no-hosts', '--cache-size=0',
    "--port=$dport", '--listen-address=127.0.0.1', '--bind-interfaces',
    '--pid-file=', '--conf-file=/dev/null', '--local-ttl=60',
    "--log-facility=$dir/dnsmasq.log", '--log-queries',
    '--local=/bl.test/', '--local=/lo.test/',
    '--address=/2.0.0.127.bl.test/127.0.0.2',
    '--address=/50.0.0.127.bl.test/127.0.0.2',
    '--address=/3.0.0.127.lo.test/127.0.0.2',
    "--server=/slow.test/127.0.0.1#$slow_port");
my $up = MxSMTP::wait_until(5, sub { dns_ready($dport, '2.0.0.127.bl.test') });
ok($up, "dnsmasq answers on 127.0.0.1:$dport")
    or BAIL_OUT('dnsmasq: ' . (read_file("$dir/dnsmasq.err") // ''));

my $sink = start_sink();
my $mbox = write_file("$dir/mailboxes", "alice\@example.test\n"
    . "carol\@example.test\n");

# --- daemon A: every verdict, 2 workers --------------------------------------
# 127.0.0.10 new then old, .7 pregreets, .2 listed (rank 3), .3 listed
# below the threshold (rank 1), .66 blocked, .20/.21/.22 for the limits,
# .40 the dictionary attacker, .50 allowlisted (and blocked, listed, ...).
my $pw = 0.5;
my $A = start_gate('A', <<"CONF") or BAIL_OUT('daemon A');
workers 2
route example.test 127.0.0.1:${\ $sink->port}
mailboxes $mbox
allow 127.0.0.50/32
block 127.0.0.66/32
block 127.0.0.48/29
block_action reply
resolver 127.0.0.1:$dport
dnsbl bl.test 3
dnsbl lo.test 1
dnsbl slow.test 1
dnsbl_threshold 3
dnsbl_timeout 300ms
pregreet_wait 500ms
pass_ttl 1h
gate_ip_concurrency 3
gate_net_concurrency 10000
gate_ip_rate 0
gate_net_rate 0
max_sessions 4
max_unknown_rcpt 3
tempblock_time 10m
CONF
my $port = $A->port;
my $wA = workers_of($A);

# PASS NEW: the banner after the pregreet wait; a message goes through
my $t0 = time;
my $c = cli($port, '127.0.0.10');
my $b = line_of($c, 3);
my $waited = time - $t0;
like($b, qr/^220 mx\.example\.test ESMTP/, 'new client gets the banner');
ok($waited >= $pw - 0.02, sprintf('... after the pregreet wait '
    . '(%.3f s >= %.1f s)', $waited, $pw));
like(send_msg($c, 'new10'), qr/^250 2\.0\.0 /, '... and its message is '
    . 'relayed to smtp-sink');
cmd($c, 'QUIT');
done_with($c);

# PASS OLD: the banner at once
$t0 = time;
$c = cli($port, '127.0.0.10');
$b = line_of($c, 3);
my $old = time - $t0;
like($b, qr/^220 /, 'passed client reconnects');
ok($old < 0.2, sprintf('... and gets the banner at once (%.3f s < 0.2 s)',
    $old));
like(send_msg($c, 'old10'), qr/^250 2\.0\.0 /, '... and its message is '
    . 'relayed');
cmd($c, 'QUIT');
done_with($c);
diag sprintf('banner delay: PASS NEW %.3f s (pregreet_wait %.1f s), '
    . 'PASS OLD %.3f s', $waited, $pw, $old);

# listed below the threshold: passes with its score
$c = cli($port, '127.0.0.3');
like(line_of($c, 3), qr/^220 /, 'client listed below the threshold passes');
like(send_msg($c, 'score3'), qr/^250 2\.0\.0 /, '... and its message is '
    . 'relayed');
cmd($c, 'QUIT');
done_with($c);

# PREGREET: dropped without a banner
$c = cli($port, '127.0.0.7');
print $c "EHLO early.test\r\n";
is(line_of($c, 3), '', 'client talking first is dropped without a banner');
done_with($c);

# DNSBL listed
$c = cli($port, '127.0.0.2');
like(line_of($c, 3),
    qr/^554 5\.7\.1 .*\[127\.0\.0\.2\] blocked using DNSBL\r\n\z/,
    'DNSBL-listed client refused 554 5.7.1');
is(line_of($c, 2), '', '... and the connection closed');
done_with($c);

# a client that hangs up during the pregreet wait without a word
$c = cli($port, '127.0.0.8');
sleep 0.1;
done_with($c);

# BLOCK with a reply
$c = cli($port, '127.0.0.66');
like(line_of($c, 3), qr/^554 5\.7\.1 .*\[127\.0\.0\.66\] blocked by local policy/,
    'block list: 554 5.7.1');
is(line_of($c, 2), '', '... and the connection closed');
done_with($c);

# DICTIONARY, then TEMPBLOCK on the next connection
$c = cli($port, '127.0.0.40');
like(line_of($c, 3), qr/^220 /, 'dictionary client connects');
cmd($c, 'EHLO dict.test');
cmd($c, 'MAIL FROM:<x@dict.test>');
my @r = map { cmd($c, "RCPT TO:<nobody$_\@example.test>") } 1 .. 3;
$r[2] .= reply_of($c, 1) // '' if $r[2] =~ /^550 /;
like($r[0], qr/^550 5\.1\.1 /, 'unknown recipient: 550 5.1.1');
like($r[1], qr/^550 5\.1\.1 /, 'second unknown recipient: 550 5.1.1');
like($r[2], qr/^(?:550 5\.1\.1 [^\n]*\n)?421 4\.7\.0 .*unknown recipients/i,
    'third (max_unknown_rcpt 3): 421 4.7.0');
is(line_of($c, 2), '', '... and the connection closed');
done_with($c);
$c = cli($port, '127.0.0.40');
like(line_of($c, 3), qr/^421 4\.7\.0 \[127\.0\.0\.40\] temporarily blocked/,
    'the dictionary attacker is refused 421 on reconnect');
done_with($c);
settle($A);

# LIMIT conn across both workers: 6 connections at once from one IP with
# gate_ip_concurrency 3 must give exactly three banners and three 421s,
# whichever worker accepts each. Rounds repeat (bounded) until the round's
# admitted and refused connections were spread over both workers.
my @held;
my ($spread, $exact, $rounds) = (0, 1, 0);
my %round_pids;
while ($rounds < 6) {
	$rounds++;
	close $_ for @held;
	@held = ();
	settle($A);
	my $from = length $A->log;
	my @s;
	for (1 .. 6) {
		push @s, cli($port, '127.0.0.20');
		sleep 0.02;
	}
	my @first = map { $_ ? line_of($_, 3) // 'timeout' : 'no connect' } @s;
	my $n220 = grep { /^220 / } @first;
	my $n421 = grep { /^421 4\.7\.0 Too many connections from \[127\.0\.0\.20\]/ } @first;
	$exact = 0 unless $n220 == 3 && $n421 == 3;
	diag "round $rounds: @first" unless $n220 == 3 && $n421 == 3;
	@held = map { $s[$_] } grep { $first[$_] =~ /^220 / } 0 .. $#s;
	done_with($s[$_]) for grep { $first[$_] !~ /^220 / } 0 .. $#s;
	sleep 0.1;
	my $l = log_since($A, $from);
	my %p;
	$p{$1}++ while $l =~ /mxgate\/gate\[(\d+)\]: (?:PASS (?:NEW|OLD)|LIMIT conn) \[127\.0\.0\.20\]/g;
	%round_pids = %p;
	if (keys %p >= 2) { $spread = 1; last }
}
ok($exact, "per-IP concurrency 3: exactly 3 banners and 3 421s in each of "
    . "$rounds round(s)");
ok($spread, 'the admitted and refused connections were spread over both '
    . 'workers (' . join(', ', map { "pid $_: $round_pids{$_}" }
    sort keys %round_pids) . ')');
my $lA = $A->log;
my @lim20 = $lA =~ /mxgate\/gate\[\d+\]: LIMIT conn \[127\.0\.0\.20\] ip 3\/3$/mg;
is(scalar @lim20, 3 * $rounds, 'one "LIMIT conn ... ip 3/3" line per refusal');

# LIMIT global: the 3 held sessions and one more make max_sessions 4
my $c21 = cli($port, '127.0.0.21');
like(line_of($c21, 3), qr/^220 /, 'a fourth session from another IP');
push @held, $c21;
$c = cli($port, '127.0.0.22');
like(line_of($c, 3), qr/^421 4\.7\.0 Server busy/,
    'max_sessions 4: the fifth session gets 421 4.7.0 Server busy');
done_with($c);

# ALLOW: blocked by 127.0.0.48/29, DNSBL-listed, talks first, the cap is
# full, more than 3 at once: still passes every test, at once
$t0 = time;
$c = cli($port, '127.0.0.50');
print $c "EHLO early.allowed.test\r\n";
$b = line_of($c, 3);
my $allow_t = time - $t0;
like($b, qr/^220 /, 'allowlisted client passes (listed, blocked, pregreets, '
    . 'cap full)');
ok($allow_t < 0.2, sprintf('... with no wait (%.3f s)', $allow_t));
like(reply_of($c, 3) // 'timeout', qr/^250[ -]/,
    '... and its early EHLO is answered');
my @more = map { cli($port, '127.0.0.50') } 1 .. 4;
is(scalar(grep { (line_of($_, 3) // '') =~ /^220 / } grep { $_ } @more), 4,
    '... 5 allowlisted sessions at once: no per-IP limit');
done_with($_) for grep { $_ } @more;
like(send_msg($c, 'allow50'), qr/^250 2\.0\.0 /,
    '... and its message is relayed');
# dictionary: the session ends, but the IP is not blocked
cmd($c, 'MAIL FROM:<x@allowed.test>');
@r = map { cmd($c, "RCPT TO:<nobody$_\@example.test>") } 1 .. 3;
$r[2] .= reply_of($c, 1) // '' if $r[2] =~ /^550 /;
like($r[2], qr/421 4\.7\.0 /, 'allowlisted dictionary attacker: session '
    . 'closed at the limit');
done_with($c);
$c = cli($port, '127.0.0.50');
like(line_of($c, 3), qr/^220 /, '... but never blocked: it reconnects');
done_with($c);
done_with($_) for @held;
@held = ();

# the log: one verdict line per decision, by both workers' pids
ok(settle($A), 'every session of daemon A logged its disconnect');
$lA = $A->log;
my $G = qr/^\S+ mx\.example\.test mxgate\/gate\[\d+\]: /m;
my @want = (
    [ 'PASS NEW', qr/${G}PASS NEW \[127\.0\.0\.10\]/m ],
    [ 'PASS OLD', qr/${G}PASS OLD \[127\.0\.0\.10\]$/m ],
    [ 'PASS NEW below the threshold', qr/${G}PASS NEW \[127\.0\.0\.3\]/m ],
    [ 'PREGREET', qr/${G}PREGREET \[127\.0\.0\.7\]/m ],
    [ 'DNSBL', qr/${G}DNSBL \[127\.0\.0\.2\] rank 3 bl\.test\(3\)=127\.0\.0\.2 timeout slow\.test$/m ],
    [ 'BLOCK', qr/${G}BLOCK \[127\.0\.0\.66\] cidr 127\.0\.0\.66\/32$/m ],
    [ 'DICTIONARY', qr/${G}DICTIONARY \[127\.0\.0\.40\] 3 unknown recipients, blocked 600 s$/m ],
    [ 'TEMPBLOCK', qr/${G}TEMPBLOCK \[127\.0\.0\.40\] dictionary attack \(3 unknown rcpt\), \d+ s left$/m ],
    [ 'LIMIT conn', qr/${G}LIMIT conn \[127\.0\.0\.20\] ip 3\/3$/m ],
    [ 'LIMIT global', qr/${G}LIMIT global \[127\.0\.0\.22\] sessions 4\/4$/m ],
    [ 'ALLOW', qr/${G}ALLOW \[127\.0\.0\.50\] cidr 127\.0\.0\.50\/32$/m ],
    [ 'DICTIONARY of the allowlisted client, not blocked',
      qr/${G}DICTIONARY \[127\.0\.0\.50\] 3 unknown recipients, blocked 0 s$/m ],
);
like($lA, $_->[1], "A logged: $_->[0]") for @want;
# the lines that name an IP, for the diagnostics below
sub lines_of {
	my ($log, $ip) = @_;
	return join('', map { "  $_\n" } grep { /gate\[\d+\]: .*\[\Q$ip\E\]/ }
	    split /\n/, $log);
}
{
	# GATING.md: "logged PASS NEW with its DNSBL rank"
	ok($lA =~ /${G}PASS NEW \[127\.0\.0\.10\] rank 0 timeout slow\.test$/m,
	    'A logged: PASS NEW with its rank and the timed-out zone')
	    or diag lines_of($lA, '127.0.0.10');
	ok($lA =~ /${G}PASS NEW \[127\.0\.0\.3\] rank 1 lo\.test\(1\)=127\.0\.0\.2 timeout slow\.test$/m,
	    'A logged: PASS NEW with rank 1 below the threshold')
	    or diag lines_of($lA, '127.0.0.3');
}
{
	ok($lA =~ /${G}PREGREET \[127\.0\.0\.7\] after \d+ ms$/m,
	    'A logged: PREGREET [IP] after N ms (GATING.md format)')
	    or diag lines_of($lA, '127.0.0.7');
}
{
	# session_read() takes any readable event during the wait, EOF
	# included, for a pregreet: a hangup must not be counted as one
	ok($lA !~ /PREGREET \[127\.0\.0\.8\]/,
	    'a client that hangs up during the wait is not logged as '
	    . 'PREGREET (it never talked)') or diag lines_of($lA, '127.0.0.8');
}
like($lA, qr/mxgate\/gate\[\d+\]: DNSBL incomplete for unknown\[127\.0\.0\.10\]: .*timeout slow\.test.*counted as not listed/,
    'the slow zone\'s timeout is logged as counted not listed');
unlike($lA, qr/gate\[\d+\]: (?:PASS|DNSBL|LIMIT|BLOCK|TEMPBLOCK)[^\n]*\[127\.0\.0\.50\]/,
    'no other verdict ever for the allowlisted client');
my @dnsbl50 = $lA =~ /DNSBL[^\n]*127\.0\.0\.50/g;
is(scalar @dnsbl50, 0, '... and no DNSBL lookup for it');
my %vpid;
$vpid{$1}++ while $lA =~ /mxgate\/gate\[(\d+)\]: /g;
my %wset = map { $_ => 1 } values %$wA;
is(scalar(grep { $wset{$_} } keys %vpid), 2,
    'verdicts logged by both worker pids') or diag explain \%vpid;

# the per-message filter lines
my @filter = $lA =~ /^\S+ \S+ mxgate\/smtpd\[\d+\]: (\w+): filter: (PASS client=\S+ gate=.*? dnsbl_score=-?\d+)/mg;
my %f = @filter;
my @fl = values %f;
ok((grep { /^PASS client=unknown\[127\.0\.0\.10\] gate=PASS NEW dnsbl_score=0$/ } @fl),
    'filter line: gate=PASS NEW dnsbl_score=0') or diag explain \@fl;
ok((grep { /^PASS client=unknown\[127\.0\.0\.10\] gate=PASS OLD dnsbl_score=0$/ } @fl),
    'filter line: gate=PASS OLD dnsbl_score=0');
ok((grep { /^PASS client=unknown\[127\.0\.0\.3\] gate=PASS NEW dnsbl_score=1$/ } @fl),
    'filter line: the DNSBL score below the threshold (1)');
ok((grep { /^PASS client=unknown\[127\.0\.0\.50\] gate=ALLOW dnsbl_score=0$/ } @fl),
    'filter line: gate=ALLOW');
is(scalar @fl, 4, 'one filter line per message');
is($sink->wait_count(4, 5), 4, 'smtp-sink got the 4 messages');
my ($m3) = grep { /Subject: score3/ } $sink->messages;
like($m3 // '', qr/^X-Mxgate-Gate: PASS NEW; client=127\.0\.0\.3; dnsbl-score=1$/m,
    'the relayed message carries X-Mxgate-Gate with verdict and score');
stop_gate('A', $A);

# --- daemon B: block_action drop, connection rate ----------------------------
my $B = start_gate('B', <<"CONF") or BAIL_OUT('daemon B');
workers 2
route example.test 127.0.0.1:${\ $sink->port}
block 127.0.0.66/32
block_action drop
pregreet_wait 0
gate_ip_rate 5
gate_net_rate 0
gate_net_concurrency 10000
min_data_rate 1000
CONF
$port = $B->port;

# slow DATA (min_data_rate 1000 B/s after the fixed 10 s grace): a child
# drips 20 bytes every 0.5 s and records what it gets; checked later
my $drip_out = "$dir/drip.out";
my $drip_t0 = time;
my $drip = fork // die "fork: $!";
if ($drip == 0) {
	my $res = 'no result';
	eval {
		my $s = cli($port, '127.0.0.35') or die "no connect\n";
		my @r = (line_of($s, 3) // 'timeout');
		push @r, cmd($s, $_) for 'EHLO drip.test',
		    'MAIL FROM:<d@drip.test>', 'RCPT TO:<alice@example.test>',
		    'DATA';
		die "dialogue: @r\n" unless $r[-1] =~ /^354 /;
		my $sel = IO::Select->new($s);
		my $end = time + 16;
		local $SIG{PIPE} = 'IGNORE';
		$res = 'never cut';
		while (time < $end) {
			syswrite($s, "drip drip drip dri\r\n") or do {
			    $res = 'write failed'; last };
			if ($sel->can_read(0.5)) {
				my $l = line_of($s, 1);
				$res = sprintf("%.1f %s", time - $drip_t0,
				    $l // 'timeout');
				last;
			}
		}
	};
	$res = "error: $@" if $@;
	write_file($drip_out, $res);
	POSIX::_exit(0);
}
$c = cli($port, '127.0.0.66');
is(line_of($c, 3), '', 'block_action drop: closed without a reply');
done_with($c);
my @rate;
for (1 .. 6) {
	my $s = cli($port, '127.0.0.30');
	push @rate, line_of($s, 3) // 'timeout';
	if ($rate[-1] =~ /^220 /) {
		cmd($s, 'QUIT');
	}
	done_with($s);
}
is(scalar(grep { /^220 / } @rate[0 .. 4]), 5, 'gate_ip_rate 5: five '
    . 'connections in a minute get the banner');
like($rate[5], qr/^421 4\.7\.0 Connection rate limit exceeded for \[127\.0\.0\.30\]/,
    '... the sixth gets 421 4.7.0');
$c = cli($port, '127.0.0.31');
like(line_of($c, 3), qr/^220 /, '... while another IP still gets in');
done_with($c);
my $lB = $B->log;
like($lB, qr/${G}BLOCK \[127\.0\.0\.66\] cidr 127\.0\.0\.66\/32$/m,
    'B logged: BLOCK (drop)');
like($lB, qr/${G}LIMIT rate \[127\.0\.0\.30\] ip 5\/min$/m,
    'B logged: LIMIT rate');

# --- daemon C: 2,000 idle connections and a normal sender --------------------
my $want_idle = 2000;
my $nofile = `sh -c 'ulimit -n'`;
chomp $nofile;
if ($nofile ne 'unlimited' && $nofile < $want_idle + 200) {
	diag "ulimit -n is $nofile: reducing the idle connections";
	$want_idle = $nofile - 200;
}
my $C = start_gate('C', <<"CONF") or BAIL_OUT('daemon C');
workers 2
route example.test 127.0.0.1:${\ $sink->port}
allow 127.0.0.200/32
pregreet_wait 300ms
max_sessions 5000
gate_ip_concurrency 1000
gate_net_concurrency 60000
gate_ip_rate 0
gate_net_rate 0
CONF
$port = $C->port;
$sink->clear;
# the sender passes once before the load (PASS OLD later)
$c = cli($port, '127.0.0.101');
like(line_of($c, 3), qr/^220 /, 'sender passes the gate before the load');
cmd($c, 'QUIT');
done_with($c);

my @idle;
$t0 = time;
my @src = map { "127.0.0.$_" } 110 .. 113;	# 500 per IP
for my $i (0 .. $want_idle - 1) {
	last if time - $t0 > 30;
	my $s = cli($port, $src[$i % @src]) or last;
	push @idle, $s;
}
my $open_t = time - $t0;
is(scalar @idle, $want_idle, "$want_idle idle connections open");
my $admitted = MxSMTP::wait_until(20, sub {
	my $n = () = $C->log =~ /gate\[\d+\]: PASS (?:NEW|OLD) \[127\.0\.0\.11[0-3]\]/g;
	$n >= @idle ? $n : 0;
}) // 0;
is($admitted, scalar @idle, 'all of them admitted by the gate');
my %cpid;
my $lC = $C->log;
$cpid{$1}++ while $lC =~ /mxgate\/smtpd\[(\d+)\]: connect from unknown\[127\.0\.0\.11[0-3]\]/g;
diag sprintf('%d idle connections opened in %.2f s, split over the '
    . 'workers: %s', scalar @idle, $open_t,
    join(', ', map { "pid $_: $cpid{$_}" } sort keys %cpid));

# the normal senders' full dialogue, banner to QUIT reply
sub dialogue {
	my ($ip, $tag) = @_;
	my $t = time;
	my $s = cli($port, $ip) or return ('no connect', 99);
	my $bn = line_of($s, 3) // 'timeout';
	my $r = $bn =~ /^220 / ? send_msg($s, $tag) : $bn;
	my $q = cmd($s, 'QUIT');
	done_with($s);
	return ($r, time - $t, $q);
}
my ($r_old, $lat_old, $q_old) = dialogue('127.0.0.101', 'load-old');
like($r_old, qr/^250 2\.0\.0 /, 'PASS OLD sender\'s message accepted beside '
    . "the idle connections");
ok($lat_old < 1.0, sprintf('... full dialogue in %.3f s (< 1 s)', $lat_old));
my ($r_al, $lat_al) = dialogue('127.0.0.200', 'load-allow');
like($r_al, qr/^250 2\.0\.0 /, 'allowlisted sender\'s message accepted');
ok($lat_al < 1.0, sprintf('... full dialogue in %.3f s (< 1 s)', $lat_al));
my ($r_new, $lat_new) = dialogue('127.0.0.102', 'load-new');
like($r_new, qr/^250 2\.0\.0 /, 'a new sender\'s message accepted');
ok($lat_new < 0.3 + 1.0, sprintf('... full dialogue in %.3f s '
    . '(pregreet wait 0.3 s included)', $lat_new));
is($sink->wait_count(3, 5), 3, 'smtp-sink got the 3 messages');
diag sprintf('latency beside %d idle connections (2 workers): PASS OLD '
    . '%.1f ms, ALLOW %.1f ms, PASS NEW %.1f ms (incl. 300 ms pregreet '
    . 'wait)', scalar @idle, $lat_old * 1000, $lat_al * 1000,
    $lat_new * 1000);
like($C->log, qr/filter: PASS client=unknown\[127\.0\.0\.101\] gate=PASS OLD dnsbl_score=0/,
    'C: filter line gate=PASS OLD');
close $_ for @idle;
%rest = ();
@idle = ();
ok(settle($C), 'every idle session closed on the server side');

# SIGHUP: a new block entry applies to new connections, a session that is
# open across the reload finishes its mail
my $hold = cli($port, '127.0.0.101');
like(line_of($hold, 3), qr/^220 /, 'a session open before the reload');
my $nready = () = $C->log =~ /worker \d+ ready/g;
$C->rewrite_config(<<"CONF");
workers 2
route example.test 127.0.0.1:${\ $sink->port}
allow 127.0.0.200/32
block 127.0.0.77/32
pregreet_wait 300ms
max_sessions 5000
gate_ip_concurrency 1000
gate_net_concurrency 60000
gate_ip_rate 0
gate_net_rate 0
CONF
$C->signal('HUP');
my $reloaded = MxSMTP::wait_until(10, sub {
	my $n = () = $C->log =~ /worker \d+ ready/g;
	$C->log =~ /mxgate\/master\[\d+\]: reloaded / && $n >= $nready + 2;
});
ok($reloaded, 'SIGHUP: reloaded, two new workers ready');
my @newgen = ($C->log =~ /mxgate\/smtpd\[(\d+)\]: worker \d+ ready/g)[-2, -1];
$worker_pids{$_} = 1 for @newgen;
{
	my $n = 0;
	for (1 .. 4) {	# each worker of the new generation, likely
		my $s = cli($port, '127.0.0.77') or next;
		$n++ if (line_of($s, 3) // '') =~ /^554 5\.7\.1 .*blocked by local policy/;
		done_with($s);
	}
	is($n, 4, 'after the reload, the new block entry refuses 127.0.0.77 '
	    . '(4 of 4 connections)') or diag lines_of($C->log, '127.0.0.77');
}
my %new = map { $_ => 1 } grep { defined } @newgen;
my @p77 = $C->log =~ /mxgate\/gate\[(\d+)\]: \S+(?: \S+)? \[127\.0\.0\.77\]/g;
ok(@p77 && !(grep { !$new{$_} } @p77), 'the connections from 127.0.0.77 '
    . 'were decided by workers of the new generation')
    or diag "new generation: @newgen; deciders: @p77";
{
	like(send_msg($hold, 'across-hup'), qr/^250 2\.0\.0 /,
	    'the session open across the reload relays its message');
}
cmd($hold, 'QUIT');
done_with($hold);
stop_gate('C', $C);

# --- the slow-drip client on daemon B ----------------------------------------
my $reaped = MxSMTP::wait_until(20, sub { waitpid($drip, WNOHANG) == $drip });
kill 'KILL', $drip unless $reaped;
my $drip_res = read_file($drip_out) // 'no result';
like($drip_res, qr/^\d+\.\d 421 4\.7\.0 .*too slow/i,
    'slow DATA (40 B/s < min_data_rate 1000): 421 4.7.0 after the grace');
my ($cut) = $drip_res =~ /^(\d+\.\d) /;
ok(defined $cut && $cut >= 9.9 && $cut < 12.5, 'cut after the 10 s grace '
    . '(' . ($cut // '?') . ' s)');
ok(settle($B), 'every session of daemon B logged its disconnect');
like($B->log, qr/${G}SLOW DATA \[127\.0\.0\.35\] \d+ bytes in \d+ ms$/m,
    'B logged: SLOW DATA');
stop_gate('B', $B);

# --- nothing left behind -----------------------------------------------------
my $left = MxSMTP::wait_until(5, sub {
	!grep { kill 0, $_ } keys %worker_pids });
ok($left, 'no worker process of any daemon is left')
    or diag 'alive: ' . join(' ', grep { kill 0, $_ } keys %worker_pids);
$sink->stop;
my $took = time - $T0;
diag sprintf('gate_daemon.t ran in %.1f s', $took);
ok($took < 120, 'whole run bounded');
done_testing();
