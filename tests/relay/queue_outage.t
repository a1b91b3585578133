#!/usr/bin/perl
# queue_outage.t — store & forward (SPEC 3.2 items 4-5) through
# the real daemon: while the customer is down, mail is committed to the
# LMDB queue before the 250; the queue cannot be read without the
# appliance key (a marker from the body is not in data.mdb); when the
# customer is back, `mxgatectl queue flush` drains it byte-exact and the
# queue empties; the runner uses STARTTLS toward a `tls encrypt` customer;
# and the crash test: a stream of messages while the whole relay is
# kill -9'd at random moments and restarted — every message that got 250
# reaches the customer (duplicates are listed, not failed).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;

plan skip_all => 'needs root (the roles drop to their own users)' if $> != 0;

my $ctl = bin('mxgatectl');
my $dir = tmpdir();

sub send_one {
	my ($port, $id, $marker) = @_;
	my $c = eval { MxSMTP::smtp_connect($port) } or return 'no connection';
	my $r = eval { $c->transaction(data => "Subject: outage $id\r\nX-Test-Id: $id\r\n\r\n" .
	    "body $id $marker\r\n..dot-stuffed line $id\r\n") };
	eval { $c->cmd('QUIT'); $c->disconnect };
	return $r // 'no reply';
}

# --- customer down: queued with 250, sealed at rest ------------------------
my $sport = MxSMTP::free_port();
my $qdir = "$dir/queue";
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sport\n" .
    "queue $qdir\npostmaster postmaster\@example.test\n");
my $marker = 'MARKER-' . join('', map { chr(65 + int rand 26) } 1 .. 16);
my @ids;
for my $i (1 .. 5) {
	my $r = send_one($mx->port, $i, $marker);
	like($r, qr/^250 2\.0\.0 Ok: queued as ([0-9A-F]+)/, "customer down: message $i queued with 250");
	push @ids, $1 if $r =~ /queued as ([0-9A-F]+)/;
}
my ($rc, $out) = run($ctl, '-f', $mx->conf, 'queue', 'list');
is($rc, 0, 'mxgatectl queue list');
is(scalar(grep { my $id = $_; $out =~ /^\Q$id\E /m } @ids), 5, 'all five are in the queue');
my $mdb = read_file("$qdir/data.mdb") // '';
ok(length $mdb > 0, 'the LMDB file exists');
unlike($mdb, qr/\Q$marker\E/, 'the body marker is not readable in data.mdb');
unlike($mdb, qr/alice\@example\.test/, 'nor is the recipient');

# --- the customer comes back: flush drains it, byte for byte --------------
my $sink = start_sink(port => $sport);
($rc, $out) = run($ctl, '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush');
is($sink->wait_count(5, 30), 5, 'the five messages reach the customer');
my @got = $sink->messages;
my $exact = grep { /^X-Test-Id: (\d)\n\nbody \1 \Q$marker\E\n\.dot-stuffed line \1\n/m } @got;
is($exact, 5, 'bodies arrive unaltered (after smtp-sink\'s LF and dot handling)');
like($got[0], qr/X-Mxgate-Flow: store-and-forward; /, 'the flow header says store-and-forward');
ok(MxSMTP::wait_until(10, sub {
	my ($r2, $o2) = run($ctl, '-f', $mx->conf, 'queue', 'list');
	$o2 !~ /^[0-9A-F]{18} /m }), 'the queue is empty afterwards');
like($mx->log, qr/status=sent \(250 /, 'the runner logs status=sent');
like($mx->log, qr/: removed$/m, 'and removed');
$mx->stop;
$sink->stop;

# --- the customer is back: one in-session delivery drains the backlog ----
{
	my $p2 = MxSMTP::free_port();
	my $m2 = start_mxgate(config => "route example.test 127.0.0.1:$p2\n");
	for my $i (1 .. 3) {
		like(send_one($m2->port, "back$i", $marker), qr/^250 2\.0\.0 Ok: queued as /,
		    "customer down: back$i queued");
	}
	my $s2 = start_sink(port => $p2);
	like(send_one($m2->port, 'live', $marker), qr/^250 2\.0\.0 Ok: queued as /,
	    'customer up: a new message goes through in session');
	is($s2->wait_count(4, 20), 4, 'and the three queued ones follow without a flush');
	like($m2->log, qr/a customer server answers again: 3 queued messages made due now/,
	    'the queue owner was told the route is back');
	$m2->stop; $s2->stop;
}

# --- tls encrypt: the runner starts TLS toward the customer ---------------
{
	my $bport = MxSMTP::free_port();
	my $sink2 = start_sink();
	my $a = start_mxgate(config => "route example.test 127.0.0.1:$bport tls encrypt\n");
	like(send_one($a->port, 'tls', $marker), qr/^250 2\.0\.0 Ok: queued as /,
	    'tls encrypt, customer down: queued');
	my $b = start_mxgate(port => $bport, config =>
	    "hostname mxb.example.test\nroute example.test 127.0.0.1:" . $sink2->port . "\n");
	run($ctl, '-f', $a->conf, 'queue', 'flush');
	is($sink2->wait_count(1, 30), 1, 'tls encrypt: delivered from the queue');
	like($a->log, qr/mxgate\/smtp\[\d+\]: Untrusted TLS connection established to /,
	    'the runner used STARTTLS');
	like($b->log, qr/Anonymous TLS connection established from/, 'the customer saw TLS');
	$a->stop; $b->stop; $sink2->stop;
}

# --- map full: 452 4.3.1, and the queue stays readable -------------------
{
	my $fq = "$dir/fullq";
	my $f = start_mxgate(config => "route example.test 127.0.0.1:$sport\n" .
	    "queue $fq\nqueue_map_size 1M\n");
	my $big = ("x" x 998 . "\r\n") x 100;	# 100 KB
	my ($ok, $full) = (0, '');
	for my $i (1 .. 40) {
		my $c = eval { MxSMTP::smtp_connect($f->port) } or last;
		my $r = eval { $c->transaction(data => "Subject: big $i\r\n\r\n$big") } // '';
		eval { $c->cmd('QUIT') };
		if ($r =~ /^250 /) { $ok++; next }
		$full = $r;
		last;
	}
	ok($ok >= 1, "map full: $ok messages fit in a 1 MiB map first");
	like($full, qr/^452 4\.3\.1 /, 'then the sender gets 452 4.3.1 (never 5xx)');
	my ($lrc, $lout) = run($ctl, '-f', $f->conf, 'queue', 'list');
	is($lrc, 0, 'the full queue is still readable');
	is(scalar(() = $lout =~ /^[0-9A-F]{18} /mg), $ok,
	    'and lists every message that got 250');
	$f->stop;
}

# --- crash test: kill -9 the whole relay at random moments ----------------
my $N = $ENV{MXGATE_CRASH_N} // 2000;
my $LIMIT = $ENV{MXGATE_CRASH_SECS} // 120;	# sending phase, seconds
my $P = 8;		# parallel senders
my $cport = MxSMTP::free_port();
my $cq = "$dir/crashq";
my $cconf = "route example.test 127.0.0.1:$sport\nqueue $cq\n" .
    "gate_ip_rate 0\ngate_net_rate 0\ngate_ip_concurrency 200\nworkers 2\n";
my $relay = start_mxgate(port => $cport, config => $cconf);
my $accepted = "$dir/accepted";
mkdir $accepted;
my @kids;
for my $k (0 .. $P - 1) {
	my $pid = fork // die;
	if (!$pid) {
		my $end = time + $LIMIT;
		open my $log, '>', "$accepted/$k" or die;
		$log->autoflush(1);
		for (my $i = $k; $i < $N && time < $end; $i += $P) {
			my $id = sprintf 'c%05d', $i;
			for my $try (1 .. 50) {
				last if time >= $end;
				my $r = send_one($cport, $id, 'crash');
				if ($r =~ /^250 /) { print $log "$id\n"; last }
				sleep 0.05;	# relay restarting: try again
			}
		}
		exit 0;
	}
	push @kids, $pid;
}
# a kill after a random 0.5-2 s, and at the latest when another quarter
# of the messages got their 250: a fast machine still sees the relay
# killed while sending (at 1/4, 1/2 and 3/4 at least)
my ($kills, $t0) = (0, time);
my $quarter = 1;
sub accepted_now { my $b = 0; $b += -s "$accepted/$_" // 0 for 0 .. $P - 1; int($b / 7) }
while (grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids) {
	last if time - $t0 > $LIMIT + 30;
	my $due = time + 0.5 + rand 1.5;
	sleep 0.05 while time < $due && ($quarter > 3 || accepted_now() < $N * $quarter / 4)
	    && grep { kill 0, $_ } @kids;
	$quarter++ while $quarter <= 3 && accepted_now() >= $N * $quarter / 4;
	next unless grep { kill 0, $_ } @kids;
	# every process of this instance: parent, jail, queue, runner, workers
	system('pkill', '-9', '-f', 'mxgate -f ' . $relay->conf);
	$relay->wait_exit(5);
	$kills++;
	$relay = start_mxgate(port => $cport, config => $cconf);
}
kill 'KILL', @kids;
waitpid($_, 0) for @kids;
my %sent;
for my $k (0 .. $P - 1) {
	$sent{$_} = 1 for split /\n/, (read_file("$accepted/$k") // '');
}
my $n = keys %sent;
ok($kills >= 2, "the relay was killed with -9 $kills times while sending");
ok($n >= 100, "$n messages got 250 during the crashes") or diag "only $n";
diag sprintf("crash test: %d of %d messages accepted in %.0f s, %d kill -9s",
    $n, $N, time - $t0, $kills);

# the customer comes back: everything that got 250 must arrive
my $csink = start_sink(port => $sport);
run($ctl, '-f', $relay->conf, 'queue', 'flush');
my %seen;
MxSMTP::wait_until(300, sub {
	%seen = ();
	for ($csink->messages) {
		$seen{$1}++ while /^X-Test-Id: (c\d+)$/mg;
	}
	!grep { !$seen{$_} } keys %sent;
});
my @missing = grep { !$seen{$_} } sort keys %sent;
my @dups = grep { $seen{$_} > 1 } sort keys %seen;
is(scalar @missing, 0, 'every message that got 250 reached the customer')
    or diag "missing: @missing[0 .. ($#missing < 20 ? $#missing : 19)]";
diag sprintf('duplicates: %d (a kill -9 between the commit and the 250 '
    . 'makes the sender send again: "at worst delivered twice")%s',
    scalar @dups, @dups ? ": @dups[0 .. ($#dups < 9 ? $#dups : 9)]" : '');
my @crashes = grep { !/signal 9/ } $relay->crashes;
is(scalar @crashes, 0, 'no role crashed on its own') or diag join "\n", @crashes;
$relay->stop;
$csink->stop;
done_testing();
