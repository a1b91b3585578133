#!/usr/bin/perl
# disk_full.t — the queue's filesystem fills up. The queue lives on a small
# tmpfs of this test's own (8 MiB); a filler file takes what is left. Then:
# mail for a customer that is down gets a temporary failure (never a 250
# without a durable copy), mail for a customer that is up is still relayed
# in session, nothing crashes; when the filler is removed, outage mail is
# queued again by itself (no restart), and every message that got a 250
# is in the queue.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

if ($> != 0) {
	fail('needs root: the relay roles drop to their own users, and the test mounts a tmpfs');
	done_testing();
	exit;
}

my $dir = tmpdir();
my $qfs = "$dir/qfs";
mkdir $qfs or die "$qfs: $!";
is(system('mount', '-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', $qfs), 0,
    'an 8 MiB tmpfs for the queue') or BAIL_OUT('cannot mount a tmpfs');
END { system('umount', '-l', $qfs) if $qfs && -d $qfs }

my $sink = start_sink();
my $down = MxSMTP::dead_port();
my $mx = start_mxgate(config => "route up.test 127.0.0.1:" . $sink->port . "\n" .
    "route down.test 127.0.0.1:$down\nqueue $qfs/queue\n" .
    "queue_map_size 64m\npostmaster postmaster\@up.test\n");

sub send_to {
	my ($rcpt, $tag) = @_;
	my $c = eval { MxSMTP::smtp_connect($mx->port) } or return 'no connection';
	my $r = eval { $c->transaction(to => $rcpt,
	    data => "Subject: $tag\r\n\r\n" . ("disk full test line\r\n" x 200)) };
	eval { $c->cmd('QUIT'); $c->disconnect };
	return $r // 'no reply';
}

my @queued;
my $r = send_to('a@down.test', 'before');
like($r, qr/^250 2\.0\.0 Ok: queued as (\S+)/, 'customer down, disk has room: queued with 250');
push @queued, $1 if $r =~ /queued as (\S+)/;

# fill the filesystem
system("dd if=/dev/zero of=$qfs/filler bs=64k 2>/dev/null");
my $free = (split ' ', `df -k --output=avail $qfs | tail -1`)[0];
ok(defined $free && $free < 64, "the queue's filesystem is full ($free KiB left)");

my ($fails, $false250) = (0, 0);
for my $i (1 .. 5) {
	$r = send_to("a\@down.test", "full $i");
	if ($r =~ /^4\d\d /) { $fails++ }
	elsif ($r =~ /^250 .*queued as (\S+)/) { push @queued, $1; $false250++ }
}
is($fails + $false250, 5, 'five outage messages on a full disk: each got an answer');
is($fails, 5, '... a temporary failure each, no 250 without a durable copy')
    or diag("last reply: $r");
like($r, qr/^45[12] 4\.3\.[01] /, "... namely $r") if $fails;
$sink->clear;
$r = send_to('b@up.test', 'in session');
like($r, qr/^250 /, 'a customer that is up: still relayed in session');
is($sink->wait_count(1, 10), 1, '... and it arrives');
is_deeply([ $mx->crashes ], [], 'no process died');

# space returns: no restart needed
unlink "$qfs/filler";
my $ok = 0;
for my $i (1 .. 20) {
	$r = send_to('a@down.test', "after $i");
	if ($r =~ /^250 .*queued as (\S+)/) { push @queued, $1; $ok = 1; last }
	sleep 1;
}
ok($ok, 'space back: outage mail is queued again by itself') or diag("last reply: $r");
my ($rc, $out) = run(bin('mxgatectl'), '-f', $mx->conf, 'queue', 'list');
is($rc, 0, 'mxgatectl queue list');
my @missing = grep { $out !~ /^\Q$_\E\s/m } @queued;
is_deeply(\@missing, [], 'every message that got a 250 is in the queue (' .
    scalar(@queued) . ')');
ok($mx->alive, 'mxgate is still running');
$mx->stop;
done_testing();
